//! A small, strict reader for the FlexBuffers blobs MediaPipe stores as
//! custom-op options: maps of scalars and vectors of ints. Every read is
//! bounds-checked; a malformed blob is an error, never a panic.
//!
//! Layout (FlexBuffers): the root is at the end of the buffer — the last byte
//! is the root's byte width, the byte before its packed type (`type << 2 |
//! log2(child width)`), and before that the root value. Offsets point
//! backwards. A vector stores its size just before its elements; an untyped
//! vector (and a map's values) has one packed type byte per element after
//! them; a map additionally stores, before its size, an offset to its keys
//! vector and that vector's byte width.

use std::collections::BTreeMap;

const NULL: u8 = 0;
const INT: u8 = 1;
const UINT: u8 = 2;
const FLOAT: u8 = 3;
const KEY: u8 = 4;
const STRING: u8 = 5;
const INDIRECT_INT: u8 = 6;
const INDIRECT_UINT: u8 = 7;
const INDIRECT_FLOAT: u8 = 8;
const MAP: u8 = 9;
const VECTOR: u8 = 10;
const VECTOR_INT: u8 = 11;
const VECTOR_UINT: u8 = 12;
const VECTOR_FLOAT: u8 = 13;
const BOOL: u8 = 26;

/// A decoded value (only the kinds MediaPipe's options use).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    String(String),
    Vector(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// An integer (ints, uints and bools; floats are refused).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(v) => Some(v),
            Value::UInt(v) => i64::try_from(v).ok(),
            Value::Bool(b) => Some(b as i64),
            _ => None,
        }
    }
    pub fn as_i32(&self) -> Option<i32> {
        self.as_i64().and_then(|v| i32::try_from(v).ok())
    }
    /// A number as f32 (ints convert, as FlexBuffers' AsFloat does).
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::Float(v) => Some(v as f32),
            Value::Int(v) => Some(v as f32),
            Value::UInt(v) => Some(v as f32),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// A vector of integers.
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        match self {
            Value::Vector(v) => v.iter().map(Value::as_i64).collect(),
            _ => None,
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    depth: usize,
}

impl Reader<'_> {
    fn bytes(&self, pos: usize, width: usize) -> Result<&[u8], String> {
        self.buf.get(pos..pos.checked_add(width).ok_or("offset overflow")?).ok_or_else(|| format!("read of {width} bytes at {pos} is past the {}-byte blob", self.buf.len()))
    }
    fn uint(&self, pos: usize, width: usize) -> Result<u64, String> {
        let b = self.bytes(pos, width)?;
        Ok(match width {
            1 => b[0] as u64,
            2 => u16::from_le_bytes([b[0], b[1]]) as u64,
            4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
            8 => u64::from_le_bytes(b.try_into().map_err(|_| "bad width")?),
            _ => return Err(format!("byte width {width}")),
        })
    }
    fn int(&self, pos: usize, width: usize) -> Result<i64, String> {
        let u = self.uint(pos, width)?;
        let shift = 64 - 8 * width as u32;
        Ok(((u << shift) as i64) >> shift)
    }
    fn float(&self, pos: usize, width: usize) -> Result<f64, String> {
        match width {
            4 => Ok(f32::from_bits(self.uint(pos, 4)? as u32) as f64),
            8 => Ok(f64::from_bits(self.uint(pos, 8)?)),
            _ => Err(format!("float of byte width {width}")),
        }
    }
    /// The target of the offset stored at `pos` (width `width`).
    fn target(&self, pos: usize, width: usize) -> Result<usize, String> {
        let off = self.uint(pos, width)?;
        usize::try_from(off).ok().and_then(|o| pos.checked_sub(o)).ok_or_else(|| format!("offset {off} at {pos} points before the blob"))
    }
    fn cstring(&self, pos: usize) -> Result<String, String> {
        let rest = self.buf.get(pos..).ok_or("key past the blob")?;
        let end = rest.iter().position(|&b| b == 0).ok_or("unterminated key")?;
        String::from_utf8(rest[..end].to_vec()).map_err(|_| "key is not UTF-8".into())
    }
    /// The value stored at `pos` in a slot of `width` bytes with packed type `packed`.
    fn value(&mut self, pos: usize, width: usize, packed: u8) -> Result<Value, String> {
        self.depth += 1;
        if self.depth > 16 {
            return Err("nesting deeper than 16".into());
        }
        let (ty, child) = (packed >> 2, 1usize << (packed & 3));
        let v = match ty {
            NULL => Value::Null,
            INT => Value::Int(self.int(pos, width)?),
            UINT => Value::UInt(self.uint(pos, width)?),
            BOOL => Value::Bool(self.uint(pos, width)? != 0),
            FLOAT => Value::Float(self.float(pos, width)?),
            INDIRECT_INT => Value::Int(self.int(self.target(pos, width)?, child)?),
            INDIRECT_UINT => Value::UInt(self.uint(self.target(pos, width)?, child)?),
            INDIRECT_FLOAT => Value::Float(self.float(self.target(pos, width)?, child)?),
            KEY => Value::String(self.cstring(self.target(pos, width)?)?),
            STRING => {
                let at = self.target(pos, width)?;
                let len = usize::try_from(self.uint(at.checked_sub(child).ok_or("string size before the blob")?, child)?).map_err(|_| "string size")?;
                Value::String(String::from_utf8(self.bytes(at, len)?.to_vec()).map_err(|_| "string is not UTF-8")?)
            }
            VECTOR_INT | VECTOR_UINT | VECTOR_FLOAT => {
                let at = self.target(pos, width)?;
                let n = self.len(at, child)?;
                let elem = match ty {
                    VECTOR_INT => INT,
                    VECTOR_UINT => UINT,
                    _ => FLOAT,
                } << 2;
                Value::Vector((0..n).map(|i| self.value(at + i * child, child, elem)).collect::<Result<_, _>>()?)
            }
            VECTOR => {
                let at = self.target(pos, width)?;
                Value::Vector(self.untyped(at, child)?)
            }
            MAP => {
                let at = self.target(pos, width)?;
                let values = self.untyped(at, child)?;
                let keys_at = self.target(at.checked_sub(3 * child).ok_or("map header before the blob")?, child)?;
                let key_width = usize::try_from(self.uint(at - 2 * child, child)?).map_err(|_| "key width")?;
                if !matches!(key_width, 1 | 2 | 4 | 8) {
                    return Err(format!("key width {key_width}"));
                }
                if self.len(keys_at, key_width)? != values.len() {
                    return Err("map has different numbers of keys and values".into());
                }
                let mut map = BTreeMap::new();
                for (i, v) in values.into_iter().enumerate() {
                    let key = self.cstring(self.target(keys_at + i * key_width, key_width)?)?;
                    if map.insert(key.clone(), v).is_some() {
                        return Err(format!("key '{key}' appears twice"));
                    }
                }
                Value::Map(map)
            }
            other => return Err(format!("FlexBuffers type {other} is not read")),
        };
        self.depth -= 1;
        Ok(v)
    }
    /// The element count stored just before `at`.
    fn len(&self, at: usize, width: usize) -> Result<usize, String> {
        let n = self.uint(at.checked_sub(width).ok_or("vector size before the blob")?, width)?;
        let n = usize::try_from(n).map_err(|_| "vector size")?;
        // Elements must fit in the blob (also bounds the allocation).
        if n.checked_mul(width).is_none_or(|b| at + b > self.buf.len()) {
            return Err(format!("vector of {n} elements overruns the blob"));
        }
        Ok(n)
    }
    fn untyped(&mut self, at: usize, width: usize) -> Result<Vec<Value>, String> {
        let n = self.len(at, width)?;
        let types = at + n * width;
        self.bytes(types, n)?;
        (0..n).map(|i| self.value(at + i * width, width, self.buf[types + i])).collect()
    }
}

/// Decodes a FlexBuffers blob.
pub fn parse(buf: &[u8]) -> Result<Value, String> {
    if buf.len() < 3 {
        return Err(format!("a {}-byte blob is not FlexBuffers", buf.len()));
    }
    let width = buf[buf.len() - 1] as usize;
    if !matches!(width, 1 | 2 | 4 | 8) {
        return Err(format!("root byte width {width}"));
    }
    let packed = buf[buf.len() - 2];
    let pos = (buf.len() - 2).checked_sub(width).ok_or("root before the blob")?;
    Reader { buf, depth: 0 }.value(pos, width, packed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TransformTensorBilinear's options in face_landmark_with_attention:
    /// {output_height: 16, output_width: 16}.
    const WARP: &str = "6f75747075745f686569676874006f75747075745f776964746800021c0f02010210100404042401";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn reads_a_map_of_ints() {
        let v = parse(&hex(WARP)).unwrap();
        let m = v.as_map().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["output_height"].as_i32(), Some(16));
        assert_eq!(m["output_width"].as_i32(), Some(16));
    }

    #[test]
    fn reads_scalars_vectors_and_strings() {
        // Root int 300 (width 2): [0x2c, 0x01, type INT|w16 = 0x05, width 2].
        assert_eq!(parse(&[0x2c, 0x01, 0x05, 2]).unwrap(), Value::Int(300));
        // Root float 1.5 (width 4).
        let mut b = 1.5f32.to_le_bytes().to_vec();
        b.extend([FLOAT << 2 | 2, 4]);
        assert_eq!(parse(&b).unwrap(), Value::Float(1.5));
        // Typed int vector [3, -1, 7] (width 1): size, elems, root offset, type, width.
        let b = [3, 3, 0xff, 7, 3, VECTOR_INT << 2, 1];
        assert_eq!(parse(&b).unwrap().as_ints(), Some(vec![3, -1, 7]));
        // String "ab": size 2, 'a', 'b', NUL, root offset 3, type STRING.
        let b = [2, b'a', b'b', 0, 3, STRING << 2, 1];
        assert_eq!(parse(&b).unwrap(), Value::String("ab".into()));
    }

    #[test]
    fn malformed_blobs_are_errors_not_panics() {
        let good = hex(WARP);
        assert!(parse(&[]).is_err());
        assert!(parse(&[1, 2]).is_err());
        assert!(parse(&[0, 0x24, 3]).is_err(), "bad root width");
        // Every truncation and every single-byte corruption must return (Ok or Err) without panicking.
        for cut in 0..good.len() {
            let _ = parse(&good[cut..]);
            let _ = parse(&good[..cut]);
        }
        for i in 0..good.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = parse(&b);
            }
        }
        // An offset pointing before the blob.
        assert!(parse(&[0x40, 0x24, 1]).is_err());
        // A vector claiming more elements than the blob holds.
        assert!(parse(&[200, 7, 7, 2, VECTOR_INT << 2, 1]).is_err());
        assert_eq!(parse(&[2, 7, 7, 2, VECTOR_INT << 2, 1]).unwrap().as_ints(), Some(vec![7, 7]));
    }
}
