//! `.npy` files (NumPy's array format, versions 1 to 3): float32 arrays in
//! C order, read as inputs and written as outputs. Anything else gets an
//! error saying what the file holds and what is expected.

use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// A float32 array with its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Reads a float32 C-order array from a `.npy` file.
pub fn read(path: &Path) -> Result<Array, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("'{}' is not a usable .npy file: {e}", path.display()))
}

/// Parses the bytes of a `.npy` file.
pub fn parse(bytes: &[u8]) -> Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("no .npy magic (\\x93NUMPY) at the start".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes.get(start..start + header_len).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = field(header, "descr").ok_or("header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    if descr != "<f4" && descr != "=f4" && !(descr == "f4" && cfg!(target_endian = "little")) {
        return Err(format!("dtype is {} ('{descr}'), armrest runs float32 models: save the array with .astype(np.float32)", dtype_name(descr)));
    }
    let fortran = field(header, "fortran_order").ok_or("header has no 'fortran_order'")?;
    if fortran != "False" {
        return Err("the array is in Fortran order: save it with np.ascontiguousarray".into());
    }
    let shape_text = field(header, "shape").ok_or("header has no 'shape'")?;
    let shape = shape_text
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {shape_text}")))
        .collect::<Result<Vec<_>, _>>()?;
    let data = &bytes[start + header_len..];
    let n: usize = shape.iter().product();
    if data.len() != 4 * n {
        return Err(format!("shape {shape:?} needs {} bytes of data, the file has {}", 4 * n, data.len()));
    }
    let data = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Array { shape, data })
}

/// The value of `key` in the header's Python dict literal (a string, a
/// bool or a tuple).
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

fn dtype_name(descr: &str) -> &'static str {
    match descr.trim_start_matches(['<', '>', '=', '|']) {
        "f8" => "float64",
        "f2" => "float16",
        "i1" => "int8",
        "u1" => "uint8",
        "i2" => "int16",
        "i4" => "int32",
        "i8" => "int64",
        "b1" => "bool",
        "f4" => "big-endian float32",
        _ => "not float32",
    }
}

/// The bytes of a version-1 `.npy` file holding `array`.
pub fn to_bytes(array: &Array) -> Vec<u8> {
    let shape = match array.shape.len() {
        1 => format!("({},)", array.shape[0]),
        _ => format!("({})", array.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic, version and length take 10 bytes; pad so data starts 64-aligned.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * array.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in &array.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

pub fn write(path: &Path, array: &Array) -> Result<(), String> {
    std::fs::write(path, to_bytes(array)).map_err(|e| format!("cannot write '{}': {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for shape in [vec![], vec![3], vec![2, 3, 4]] {
            let n: usize = shape.iter().product();
            let a = Array { shape: shape.clone(), data: (0..n).map(|i| i as f32 * 0.5 - 1.0).collect() };
            let bytes = to_bytes(&a);
            assert_eq!((bytes.len() - 4 * n) % 64, 0);
            assert_eq!(parse(&bytes).unwrap(), a);
        }
    }

    #[test]
    fn rejects_other_dtypes_and_truncation() {
        let a = Array { shape: vec![2, 2], data: vec![1.0; 4] };
        let good = to_bytes(&a);
        let mut f64_file = good.clone();
        let at = f64_file.windows(3).position(|w| w == b"<f4").unwrap();
        f64_file[at + 2] = b'8';
        let e = parse(&f64_file).unwrap_err();
        assert!(e.contains("float64"), "{e}");
        let e = parse(&good[..good.len() - 1]).unwrap_err();
        assert!(e.contains("needs 16 bytes"), "{e}");
        assert!(parse(b"hello world").unwrap_err().contains("magic"));
    }
}
