//! The TFLite/LiteRT delegate: `Prepare` claims nodes through the engine's
//! visitor and hands them to the runtime; each partition is a kernel whose
//! `init` builds and packs, `prepare` plans shapes (resizing outputs), and
//! `invoke` runs armrest's kernels. Tensor indices are cached, never
//! tensor or data pointers.

use crate::abi::*;
use crate::guard::{guard, set_last_error};
use armrest_delegate::log::Logger;
use armrest_delegate::tflite::claim::{ClaimReport, Folds};
use armrest_delegate::tflite::{self as front, BuiltinParams, TflDimMeta, TflModel, TflNode, TflQuant, TflSparsity, TflTensor};
use crate::engine::Engine;
use armrest_delegate::Options;
use armrest_kernels::{Isa, ThreadPool};
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Arc, Mutex};

/// What a delegate instance owns; `TfLiteDelegate::data_` points to it.
pub struct DelegateState {
    pub options: Options,
    pub isa: Isa,
    pub logger: Logger,
    pool: Mutex<Option<Arc<ThreadPool>>>,
    folds: Mutex<Folds>,
    /// (claimed, total, partitions) of the last `Prepare`.
    pub last_claim: Mutex<Option<(usize, usize, usize)>>,
    /// Verify mode's errors: per partition (in build order), per output, of its last invoke.
    pub verify: Arc<Mutex<Vec<crate::verify::Record>>>,
}

const NAME: &CStr = c"armrest";

/// Addresses of the live delegates this library made, so that a foreign or
/// freed pointer handed to the C API is recognised instead of dereferenced.
static LIVE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn is_live(d: *const TfLiteDelegate) -> bool {
    LIVE.lock().map(|l| l.contains(&(d as usize))).unwrap_or(false)
}

/// Creates a delegate for `options` (already validated). Never NULL.
pub fn create(options: Options) -> *mut TfLiteDelegate {
    let state = Box::new(DelegateState {
        isa: options.isa(),
        logger: Logger { level: options.log },
        options,
        pool: Mutex::new(None),
        folds: Mutex::new(Folds::default()),
        last_claim: Mutex::new(None),
        verify: Arc::new(Mutex::new(Vec::new())),
    });
    let delegate = Box::new(TfLiteDelegate {
        data_: Box::into_raw(state).cast(),
        Prepare: Some(delegate_prepare),
        CopyFromBufferHandle: std::ptr::null(),
        CopyToBufferHandle: std::ptr::null(),
        FreeBufferHandle: std::ptr::null(),
        flags: K_TFLITE_DELEGATE_FLAGS_ALLOW_DYNAMIC_TENSORS,
        opaque_delegate_builder: std::ptr::null_mut(),
    });
    let d = Box::into_raw(delegate);
    if let Ok(mut live) = LIVE.lock() {
        live.push(d as usize);
    }
    d
}

/// Frees a delegate made by `create`. NULL is a no-op.
///
/// # Safety
/// `d` is NULL or any pointer: only live delegates made by `create` are freed.
pub unsafe fn destroy(d: *mut TfLiteDelegate) {
    let known = LIVE.lock().map(|mut l| {
        let before = l.len();
        l.retain(|&p| p != d as usize);
        l.len() != before
    });
    if d.is_null() || !matches!(known, Ok(true)) {
        return;
    }
    // SAFETY: per the contract `d` and its state were made by `Box::into_raw` in `create`.
    unsafe {
        let delegate = Box::from_raw(d);
        if !delegate.data_.is_null() {
            drop(Box::from_raw(delegate.data_.cast::<DelegateState>()));
        }
    }
}

/// The state behind a delegate made by `create`.
///
/// # Safety
/// `d` is NULL or any pointer: only live delegates made by `create` are dereferenced,
/// and the reference must not outlive the delegate.
pub unsafe fn state<'a>(d: *const TfLiteDelegate) -> Option<&'a DelegateState> {
    if d.is_null() || !is_live(d) {
        return None;
    }
    // SAFETY: `d` is a live delegate from `create`, whose `data_` is a live `DelegateState`.
    unsafe { (*d).data_.cast::<DelegateState>().as_ref() }
}

/// Reports `msg` through the context's error reporter.
///
/// # Safety
/// `ctx` is NULL or a valid context.
unsafe fn report(ctx: *mut TfLiteContext, msg: &str) {
    set_last_error(msg);
    if ctx.is_null() {
        return;
    }
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: valid context; ReportError is variadic printf-like, given "%s" and one C string.
    unsafe {
        if let Some(f) = (*ctx).ReportError {
            f(ctx, c"%s".as_ptr(), c.as_ptr());
        }
    }
}

/// A view of the runtime's graph through the context's function pointers.
struct ContextModel {
    ctx: *mut TfLiteContext,
}

impl ContextModel {
    fn raw_tensor(&self, index: i32) -> Option<&TfLiteTensor> {
        // SAFETY: the context is valid for the duration of the callback that made this view;
        // the index is bounds-checked against `tensors_size`.
        unsafe {
            let ctx = &*self.ctx;
            let i = usize::try_from(index).ok()?;
            if i >= ctx.tensors_size || ctx.tensors.is_null() {
                return None;
            }
            Some(&*ctx.tensors.add(i))
        }
    }
}

impl TflModel for ContextModel {
    fn tensor(&self, index: i32) -> Option<TflTensor<'_>> {
        let t = self.raw_tensor(index)?;
        // SAFETY: `dims` is NULL or a valid int array owned by the runtime.
        let dims = unsafe { int_array(t.dims) }.to_vec();
        let constant_data = if t.allocation_type == front::ALLOCATION_MMAP_RO && !t.data.is_null() {
            // SAFETY: a read-only tensor's `data` points to `bytes` bytes that live as long as the model.
            Some(unsafe { std::slice::from_raw_parts(t.data.cast::<u8>(), t.bytes) })
        } else {
            None
        };
        let name = if t.name.is_null() {
            format!("#{index}")
        } else {
            // SAFETY: a non-NULL tensor name is a NUL-terminated string owned by the runtime.
            unsafe { CStr::from_ptr(t.name) }.to_string_lossy().into_owned()
        };
        let quantized = t.quantization.type_ != 0 || t.params.scale != 0.0;
        Some(TflTensor { dtype: t.type_, dims, allocation_type: t.allocation_type, constant_data, name, quantized })
    }

    fn lent_f32(&self, index: i32) -> Option<armrest_delegate::constant::ConstData> {
        let t = self.raw_tensor(index)?;
        if t.allocation_type != front::ALLOCATION_MMAP_RO || t.type_ != front::dtype::F32 {
            return None;
        }
        // SAFETY: a read-only tensor's `data` holds `bytes` bytes that live, unchanged, as long as
        // the model, which outlives the interpreter and so every partition built here.
        unsafe { crate::lent::lend(t.data.cast::<u8>(), t.bytes) }
    }

    fn quantization(&self, index: i32) -> Option<TflQuant> {
        let t = self.raw_tensor(index)?;
        if t.quantization.type_ == K_TFLITE_AFFINE_QUANTIZATION && !t.quantization.params.is_null() {
            // SAFETY: affine quantization's params are a TfLiteAffineQuantization whose arrays are
            // NULL or valid and live as long as the tensor.
            unsafe {
                let a = &*t.quantization.params.cast::<TfLiteAffineQuantization>();
                return Some(TflQuant { scale: float_array(a.scale).to_vec(), zero_point: int_array(a.zero_point).to_vec(), quantized_dimension: a.quantized_dimension });
            }
        }
        // Legacy per-tensor parameters only.
        (t.params.scale != 0.0).then(|| TflQuant { scale: vec![t.params.scale], zero_point: vec![t.params.zero_point], quantized_dimension: 0 })
    }

    fn sparsity(&self, index: i32) -> Option<TflSparsity> {
        let t = self.raw_tensor(index)?;
        if t.sparsity.is_null() {
            return None;
        }
        // SAFETY: a non-NULL `sparsity` points to the runtime's TfLiteSparsity for this tensor,
        // whose arrays and `dim_metadata_size` metadata entries live as long as the model.
        unsafe {
            let sp = &*t.sparsity.cast::<TfLiteSparsity>();
            let levels = usize::try_from(sp.dim_metadata_size).ok()?;
            if levels > 0 && sp.dim_metadata.is_null() {
                return None;
            }
            let mut dim_metadata = Vec::with_capacity(levels);
            for l in 0..levels {
                let m = &*sp.dim_metadata.add(l);
                dim_metadata.push(match m.format {
                    0 => TflDimMeta::Dense(m.dense_size),
                    1 => TflDimMeta::SparseCsr { segments: int_array(m.array_segments).to_vec(), indices: int_array(m.array_indices).to_vec() },
                    _ => return None,
                });
            }
            Some(TflSparsity { traversal_order: int_array(sp.traversal_order).to_vec(), block_map: int_array(sp.block_map).to_vec(), dim_metadata })
        }
    }

    fn node(&self, index: usize) -> Option<TflNode> {
        let mut node: *mut TfLiteNode = std::ptr::null_mut();
        let mut reg: *mut TfLiteRegistration = std::ptr::null_mut();
        // SAFETY: valid context; GetNodeAndRegistration writes two pointers on success.
        let status = unsafe {
            let f = (*self.ctx).GetNodeAndRegistration?;
            f(self.ctx, c_int::try_from(index).ok()?, &mut node, &mut reg)
        };
        if status != K_TFLITE_OK || node.is_null() || reg.is_null() {
            return None;
        }
        // SAFETY: on success both point to runtime-owned structs valid during this callback.
        let (node, reg) = unsafe { (&*node, &*reg) };
        let custom_name = if reg.custom_name.is_null() {
            None
        } else {
            // SAFETY: a non-NULL custom name is a NUL-terminated string owned by the runtime.
            Some(unsafe { CStr::from_ptr(reg.custom_name) }.to_string_lossy().into_owned())
        };
        // SAFETY: the node's arrays are valid int arrays owned by the runtime.
        let (inputs, outputs) = unsafe { (int_array(node.inputs).to_vec(), int_array(node.outputs).to_vec()) };
        // SAFETY: builtin_data is NULL or the params struct of this builtin code.
        let params = unsafe { decode_params(reg.builtin_code, node.builtin_data) };
        let custom_options = match usize::try_from(node.custom_initial_data_size) {
            // SAFETY: a custom node's initial data is `custom_initial_data_size` bytes owned by the runtime.
            Ok(n) if n > 0 && !node.custom_initial_data.is_null() => unsafe { std::slice::from_raw_parts(node.custom_initial_data.cast::<u8>(), n) }.to_vec(),
            _ => Vec::new(),
        };
        Some(TflNode { builtin_code: reg.builtin_code, custom_name, version: reg.version, inputs, outputs, params, custom_options })
    }
}

/// Decodes the fields armrest reads from a node's builtin data.
///
/// # Safety
/// `data` is NULL or points to the runtime's params struct for `code`.
unsafe fn decode_params(code: i32, data: *const c_void) -> BuiltinParams {
    use front::ops;
    if data.is_null() {
        return BuiltinParams::None;
    }
    // SAFETY (all arms): `data` is the params struct for `code`, at least as large as the mirror read.
    unsafe {
        match code {
            ops::CONV_2D => {
                let p = &*data.cast::<TfLiteConvParams>();
                BuiltinParams::Conv {
                    padding: p.padding,
                    stride_w: p.stride_width,
                    stride_h: p.stride_height,
                    activation: p.activation,
                    dilation_w: p.dilation_width_factor,
                    dilation_h: p.dilation_height_factor,
                }
            }
            ops::DEPTHWISE_CONV_2D => {
                let p = &*data.cast::<TfLiteDepthwiseConvParams>();
                BuiltinParams::DepthwiseConv {
                    padding: p.padding,
                    stride_w: p.stride_width,
                    stride_h: p.stride_height,
                    depth_multiplier: p.depth_multiplier,
                    activation: p.activation,
                    dilation_w: p.dilation_width_factor,
                    dilation_h: p.dilation_height_factor,
                }
            }
            ops::FULLY_CONNECTED => {
                let p = &*data.cast::<TfLiteFullyConnectedParams>();
                BuiltinParams::FullyConnected { activation: p.activation, weights_format: p.weights_format, keep_num_dims: p.keep_num_dims, asymmetric_quantize_inputs: p.asymmetric_quantize_inputs }
            }
            ops::AVERAGE_POOL_2D | ops::MAX_POOL_2D => {
                let p = &*data.cast::<TfLitePoolParams>();
                BuiltinParams::Pool {
                    padding: p.padding,
                    stride_w: p.stride_width,
                    stride_h: p.stride_height,
                    filter_w: p.filter_width,
                    filter_h: p.filter_height,
                    activation: p.activation,
                }
            }
            ops::ADD | ops::SUB | ops::MUL | ops::DIV => BuiltinParams::Activation { activation: (*data.cast::<TfLiteActivationParams>()).activation },
            ops::SOFTMAX => BuiltinParams::Softmax { beta: (*data.cast::<TfLiteSoftmaxParams>()).beta },
            ops::RESHAPE => {
                let p = &*data.cast::<TfLiteReshapeParams>();
                let n = usize::try_from(p.num_dimensions).unwrap_or(0).min(8);
                BuiltinParams::Reshape { shape: p.shape[..n].to_vec() }
            }
            ops::SQUEEZE => {
                let p = &*data.cast::<TfLiteSqueezeParams>();
                let n = usize::try_from(p.num_squeeze_dims).unwrap_or(0).min(8);
                BuiltinParams::Squeeze { dims: p.squeeze_dims[..n].to_vec() }
            }
            ops::CONCATENATION => {
                let p = &*data.cast::<TfLiteConcatenationParams>();
                BuiltinParams::Concatenation { axis: p.axis, activation: p.activation }
            }
            ops::MEAN => BuiltinParams::Reducer { keep_dims: (*data.cast::<TfLiteReducerParams>()).keep_dims },
            ops::RESIZE_BILINEAR => {
                let p = &*data.cast::<TfLiteResizeBilinearParams>();
                BuiltinParams::ResizeBilinear { align_corners: p.align_corners, half_pixel_centers: p.half_pixel_centers }
            }
            ops::LEAKY_RELU => BuiltinParams::LeakyRelu { alpha: (*data.cast::<TfLiteLeakyReluParams>()).alpha },
            ops::DEPTH_TO_SPACE => BuiltinParams::DepthToSpace { block_size: (*data.cast::<TfLiteDepthToSpaceParams>()).block_size },
            ops::STRIDED_SLICE => {
                let p = &*data.cast::<TfLiteStridedSliceParams>();
                BuiltinParams::StridedSlice {
                    begin_mask: p.begin_mask,
                    end_mask: p.end_mask,
                    ellipsis_mask: p.ellipsis_mask,
                    new_axis_mask: p.new_axis_mask,
                    shrink_axis_mask: p.shrink_axis_mask,
                }
            }
            _ => crate::fallback_params::decode(code, data),
        }
    }
}

fn registration() -> TfLiteRegistration {
    TfLiteRegistration {
        init: Some(partition_init),
        free: Some(partition_free),
        prepare: Some(partition_prepare),
        invoke: Some(partition_invoke),
        profiling_string: std::ptr::null(),
        builtin_code: K_TFLITE_BUILTIN_DELEGATE,
        custom_name: NAME.as_ptr(),
        version: 1,
        registration_external: std::ptr::null_mut(),
        async_kernel: std::ptr::null_mut(),
        inplace_operator: 0,
    }
}

unsafe extern "C" fn delegate_prepare(ctx: *mut TfLiteContext, delegate: *mut TfLiteDelegate) -> TfLiteStatus {
    guard(K_TFLITE_ERROR, || {
        // SAFETY: the runtime calls Prepare with its live context and our delegate.
        let Some(state) = (unsafe { state(delegate) }) else { return K_TFLITE_DELEGATE_ERROR };
        if ctx.is_null() {
            return K_TFLITE_DELEGATE_ERROR;
        }
        // SAFETY: live context during Prepare.
        match unsafe { prepare_delegate(ctx, delegate, state) } {
            Ok(()) => K_TFLITE_OK,
            Err(e) => {
                state.logger.error(&e);
                // SAFETY: live context.
                unsafe { report(ctx, &format!("armrest: {e}")) };
                K_TFLITE_DELEGATE_ERROR
            }
        }
    })
}

/// # Safety
/// `ctx` is the live context of a delegate `Prepare` call; `delegate` is ours.
unsafe fn prepare_delegate(ctx: *mut TfLiteContext, delegate: *mut TfLiteDelegate, state: &DelegateState) -> Result<(), String> {
    let mut plan: *mut TfLiteIntArray = std::ptr::null_mut();
    // SAFETY: live context; GetExecutionPlan writes a runtime-owned array on success.
    let plan: Vec<usize> = unsafe {
        let f = (*ctx).GetExecutionPlan.ok_or("the runtime has no GetExecutionPlan")?;
        if f(ctx, &mut plan) != K_TFLITE_OK {
            return Err("GetExecutionPlan failed".into());
        }
        int_array(plan).iter().filter_map(|&i| usize::try_from(i).ok()).collect()
    };
    // SAFETY: live context.
    let recommended = unsafe { (*ctx).recommended_num_threads };
    let threads = state.options.threads_for(recommended);
    {
        let mut pool = state.pool.lock().map_err(|_| "pool lock poisoned")?;
        if pool.as_ref().is_none_or(|p| p.num_threads() != threads) {
            *pool = Some(Arc::new(ThreadPool::new(threads)));
        }
    }
    let model = ContextModel { ctx };
    let claims = front::claim_nodes_with(&model, &plan, state.options.fallback);
    *state.folds.lock().map_err(|_| "folds lock poisoned")? = claims.folds.clone();

    let nodes: Vec<c_int> = claims.claimed.iter().map(|&n| n as c_int).collect();
    let array = OwnedIntArray::new(&nodes);
    // SAFETY: live context and our own array.
    let partitions = unsafe { preview_partitions(ctx, &array) };
    *state.last_claim.lock().map_err(|_| "claim lock poisoned")? = Some((claims.claimed.len(), claims.total, partitions.len()));
    if state.options.report {
        print_report(&model, &claims, &partitions, state.isa, threads);
    } else {
        state.logger.info(&format!("claimed {} of {} nodes in {} partitions", claims.claimed.len(), claims.total, partitions.len()));
    }
    if nodes.is_empty() {
        *state.folds.lock().map_err(|_| "folds lock poisoned")? = Folds::default();
        return Ok(());
    }
    // SAFETY: live context; the registration is passed by value and the array outlives the call.
    let status = unsafe {
        let f = (*ctx).ReplaceNodeSubsetsWithDelegateKernels.ok_or("the runtime has no ReplaceNodeSubsetsWithDelegateKernels")?;
        f(ctx, registration(), array.as_ptr(), delegate)
    };
    // The runtime has run every partition's `init` inside that call, and the
    // partitions hold what they still need of the folded (dequantized fp16)
    // weights: the delegate's and this claim's references go, or the fp32
    // copies would outlive packing (11 MB for hand_landmark_full).
    *state.folds.lock().map_err(|_| "folds lock poisoned")? = Folds::default();
    drop(claims);
    if status != K_TFLITE_OK {
        return Err("the runtime refused the claimed nodes".into());
    }
    // The partitions are built: the weight copies they packed from are freed.
    crate::memory::return_freed_memory();
    Ok(())
}

/// The runtime's partitioning of `nodes`, as lists of node indices (empty if unavailable).
///
/// # Safety
/// `ctx` is the live context of a delegate `Prepare` call.
unsafe fn preview_partitions(ctx: *mut TfLiteContext, nodes: &OwnedIntArray) -> Vec<Vec<c_int>> {
    let mut params: *mut TfLiteDelegateParams = std::ptr::null_mut();
    let mut count: c_int = 0;
    // SAFETY: live context; on success the runtime owns `count` params structs at `params`.
    unsafe {
        let Some(f) = (*ctx).PreviewDelegatePartitioning else { return Vec::new() };
        if f(ctx, nodes.as_ptr(), &mut params, &mut count) != K_TFLITE_OK || params.is_null() {
            return Vec::new();
        }
        (0..usize::try_from(count).unwrap_or(0)).map(|i| int_array((*params.add(i)).nodes_to_replace).to_vec()).collect()
    }
}

fn print_report(model: &ContextModel, claims: &ClaimReport, partitions: &[Vec<c_int>], isa: Isa, threads: usize) {
    let int8 = claims.claimed.iter().any(|&n| model.node(n).is_some_and(|node| front::claim_quant::is_quantized_node(model, &node)));
    let mut text = format!(
        "armrest: claimed {} of {} nodes in {} partitions\narmrest: kernels={isa}{}, threads={threads}\n",
        claims.claimed.len(),
        claims.total,
        partitions.len(),
        if int8 { crate::engine::int8_kernels_label(isa) } else { String::new() }
    );
    for (p, nodes) in partitions.iter().enumerate() {
        let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
        for &n in nodes {
            let name = usize::try_from(n).ok().and_then(|n| model.node(n)).map_or_else(|| "?".into(), |n| n.op_name());
            *histogram.entry(name).or_default() += 1;
        }
        let ops: Vec<String> = histogram.iter().map(|(k, v)| format!("{k} x{v}")).collect();
        text.push_str(&format!("armrest: partition {p}: {} nodes: {}\n", nodes.len(), ops.join(", ")));
    }
    for u in &claims.unclaimed {
        text.push_str(&format!("armrest: node {} {} not claimed: {}\n", u.node, u.op, u.reason));
    }
    text.push_str(&crate::verify::report_lines(model, claims, partitions));
    eprint!("{text}");
}

/// One claimed partition: the executor and the runtime tensor indices of its boundary.
struct Partition {
    exec: Engine,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    logger: Logger,
    /// Verify mode's tract twin (None when verify is off).
    verify: Option<crate::verify::PartitionCheck>,
}

const INIT_FAILED: *mut c_void = usize::MAX as *mut c_void;

unsafe extern "C" fn partition_init(ctx: *mut TfLiteContext, buffer: *const c_char, _length: usize) -> *mut c_void {
    guard(INIT_FAILED, || {
        let params = buffer.cast::<TfLiteDelegateParams>();
        if ctx.is_null() || params.is_null() {
            return INIT_FAILED;
        }
        // SAFETY: for delegate kernels the runtime passes a valid TfLiteDelegateParams as `buffer`.
        let (delegate, nodes, inputs, outputs) = unsafe {
            let p = &*params;
            (p.delegate, int_array(p.nodes_to_replace), int_array(p.input_tensors), int_array(p.output_tensors))
        };
        // SAFETY: the params name the delegate that claimed these nodes: ours, still alive.
        let Some(state) = (unsafe { state(delegate) }) else { return INIT_FAILED };
        match build(ctx, state, nodes, inputs, outputs) {
            Ok(p) => Box::into_raw(Box::new(p)).cast(),
            Err(e) => {
                state.logger.error(&e);
                // SAFETY: live context.
                unsafe { report(ctx, &format!("armrest: {e}")) };
                INIT_FAILED
            }
        }
    })
}

fn build(ctx: *mut TfLiteContext, state: &DelegateState, nodes: &[c_int], inputs: &[c_int], outputs: &[c_int]) -> Result<Partition, String> {
    let model = ContextModel { ctx };
    let folds = state.folds.lock().map_err(|_| "folds lock poisoned")?.clone();
    let nodes: Vec<usize> = nodes.iter().filter_map(|&n| usize::try_from(n).ok()).collect();
    let (graph, graph_inputs) = front::build_partition(&model, &folds, &nodes, inputs, outputs)?;
    let pool = state.pool.lock().map_err(|_| "pool lock poisoned")?.clone().unwrap_or_else(|| Arc::new(ThreadPool::new(1)));
    let mut exec = Engine::new(graph, state.isa, pool)?;
    state.logger.debug(&format!("partition of {} nodes built ({} inputs, {} outputs)", nodes.len(), graph_inputs.len(), outputs.len()));
    if let Engine::Typed(_) = &exec {
        state.logger.debug(&format!("partition int8 kernels: {}", exec.int8_kernels().join(", ")));
    }
    let verify = match &exec {
        Engine::Float(e) => crate::verify::PartitionCheck::new(state, e.graph())?,
        Engine::Typed(_) => crate::verify::not_verifiable(state, "it has int8 / int32 tensors (quantized ops or CAST); verify covers float32 partitions only")?,
    };
    // Verify's tract twin (if any) has its own copy of the graph now.
    let freed = match &mut exec {
        Engine::Float(e) => 4 * e.release_packed_weights(),
        Engine::Typed(e) => e.release_packed_weights(),
    };
    state.logger.debug(&format!("partition keeps its weights packed only ({freed} bytes of copies freed)"));
    Ok(Partition { exec, inputs: graph_inputs, outputs: outputs.to_vec(), logger: state.logger, verify })
}

unsafe extern "C" fn partition_free(_ctx: *mut TfLiteContext, buffer: *mut c_void) {
    guard((), || {
        if !buffer.is_null() && buffer != INIT_FAILED {
            // SAFETY: a non-failure `init` result is a Box<Partition> we made, freed once by the runtime.
            drop(unsafe { Box::from_raw(buffer.cast::<Partition>()) });
        }
    })
}

/// The partition behind a node, if `init` succeeded.
///
/// # Safety
/// `node` is NULL or a live node whose `user_data` came from `partition_init`.
unsafe fn partition<'a>(node: *mut TfLiteNode) -> Option<&'a mut Partition> {
    if node.is_null() {
        return None;
    }
    // SAFETY: per the contract; tflite-runtime 2.14 may pass the failure marker, which is rejected.
    unsafe {
        let p = (*node).user_data;
        if p.is_null() || p == INIT_FAILED {
            None
        } else {
            Some(&mut *p.cast::<Partition>())
        }
    }
}

/// The shared body of the partition kernel's `prepare` and `invoke`: find the
/// partition, run `step`, report its error through the context.
///
/// # Safety
/// `ctx` is NULL or live; `node` is NULL or the node whose user_data our init returned.
unsafe fn kernel_entry(ctx: *mut TfLiteContext, node: *mut TfLiteNode, step: unsafe fn(*mut TfLiteContext, &mut Partition) -> Result<(), String>) -> TfLiteStatus {
    guard(K_TFLITE_ERROR, || {
        // SAFETY: per this function's contract.
        let Some(p) = (unsafe { partition(node) }) else {
            // SAFETY: ctx is NULL or live.
            unsafe { report(ctx, "armrest: partition was not initialised") };
            return K_TFLITE_ERROR;
        };
        if ctx.is_null() {
            return K_TFLITE_ERROR;
        }
        // SAFETY: live context during the kernel call.
        match unsafe { step(ctx, p) } {
            Ok(()) => K_TFLITE_OK,
            Err(e) => {
                p.logger.error(&e);
                // SAFETY: live context.
                unsafe { report(ctx, &format!("armrest: {e}")) };
                K_TFLITE_ERROR
            }
        }
    })
}

unsafe extern "C" fn partition_prepare(ctx: *mut TfLiteContext, node: *mut TfLiteNode) -> TfLiteStatus {
    // SAFETY: the runtime passes its live context and our node.
    unsafe { kernel_entry(ctx, node, prepare_partition) }
}

/// # Safety
/// `ctx` is the live context of a kernel prepare.
unsafe fn prepare_partition(ctx: *mut TfLiteContext, p: &mut Partition) -> Result<(), String> {
    let model = ContextModel { ctx };
    let mut shapes = Vec::with_capacity(p.inputs.len());
    for &i in &p.inputs {
        let t = model.tensor(i).ok_or_else(|| format!("input tensor {i} does not exist"))?;
        let want = crate::engine::runtime_type(p.exec.graph(), p.exec.graph().inputs[shapes.len()]);
        if t.dtype != want {
            return Err(format!("input '{}' is {}, expected {}", t.name, front::dtype::name(t.dtype), front::dtype::name(want)));
        }
        shapes.push(t.shape().ok_or_else(|| format!("input '{}' has an unknown shape", t.name))?);
    }
    let out_shapes = p.exec.prepare(&shapes)?;
    let arena_bytes = match &p.exec {
        crate::engine::Engine::Float(e) => 4 * e.arena_len(),
        crate::engine::Engine::Typed(e) => e.arena_bytes(),
    };
    p.logger.debug(&format!("partition planned: arena of {arena_bytes} bytes for its internal tensors"));
    if let Some(v) = &mut p.verify {
        v.prepare(&shapes)?;
    }
    for (&o, shape) in p.outputs.iter().zip(&out_shapes) {
        let t = model.raw_tensor(o).ok_or_else(|| format!("output tensor {o} does not exist"))?;
        // SAFETY: `dims` is NULL or a runtime-owned int array.
        let current = unsafe { int_array(t.dims) };
        let want: Vec<c_int> = shape.iter().map(|&d| d as c_int).collect();
        if current != want.as_slice() {
            let dims = malloc_int_array(&want);
            if dims.is_null() {
                return Err("out of memory".into());
            }
            // SAFETY: live context; `o` is bounds-checked; ResizeTensor takes ownership of `dims`.
            let status = unsafe {
                let f = (*ctx).ResizeTensor.ok_or("the runtime has no ResizeTensor")?;
                f(ctx, (*ctx).tensors.add(o as usize), dims)
            };
            if status != K_TFLITE_OK {
                return Err(format!("resizing output {o} to {want:?} failed"));
            }
        }
    }
    Ok(())
}

unsafe extern "C" fn partition_invoke(ctx: *mut TfLiteContext, node: *mut TfLiteNode) -> TfLiteStatus {
    // SAFETY: the runtime passes its live context and our node.
    unsafe { kernel_entry(ctx, node, invoke_partition) }
}

/// The f32 data of tensor `i`, checked against the planned length.
///
/// # Safety
/// `ctx` is live; the returned slice is used only during this invoke and
/// no other slice of the same tensor is alive mutably.
unsafe fn tensor_data(ctx: *mut TfLiteContext, i: i32, want: usize) -> Result<*mut f32, String> {
    // SAFETY: live context; index bounds-checked.
    unsafe {
        let ctx = &*ctx;
        let idx = usize::try_from(i).ok().filter(|&i| i < ctx.tensors_size).ok_or_else(|| format!("tensor {i} does not exist"))?;
        let t = &*ctx.tensors.add(idx);
        if t.bytes < want * 4 || (want > 0 && t.data.is_null()) {
            return Err(format!("tensor {i} holds {} bytes, {} are needed", t.bytes, want * 4));
        }
        if t.data.align_offset(std::mem::align_of::<f32>()) != 0 {
            return Err(format!("tensor {i} is not aligned for float32"));
        }
        Ok(t.data.cast::<f32>())
    }
}

/// # Safety
/// `ctx` is the live context of a kernel invoke.
unsafe fn invoke_partition(ctx: *mut TfLiteContext, p: &mut Partition) -> Result<(), String> {
    let exec = match &mut p.exec {
        Engine::Typed(q) => {
            // SAFETY: live context of a kernel invoke; the partition's own boundary indices.
            return unsafe { crate::engine::invoke_typed(ctx, q, &p.inputs, &p.outputs) };
        }
        Engine::Float(e) => e,
    };
    let mut inputs: Vec<&[f32]> = Vec::with_capacity(p.inputs.len());
    for &i in &p.inputs {
        let want = input_len(ctx, i)?;
        // SAFETY: live context; partition inputs are distinct tensors from its outputs (both live
        // at this node), so this shared slice never aliases an output slice below.
        let ptr = unsafe { tensor_data(ctx, i, want)? };
        // SAFETY: `ptr` holds at least `want` aligned floats (checked by tensor_data).
        inputs.push(unsafe { std::slice::from_raw_parts(ptr, want) });
    }
    let mut outputs: Vec<&mut [f32]> = Vec::with_capacity(p.outputs.len());
    for (k, &o) in p.outputs.iter().enumerate() {
        let want: usize = exec.output_shape(k).iter().product();
        // SAFETY: live context; outputs are distinct tensors, disjoint from each other and the inputs.
        let ptr = unsafe { tensor_data(ctx, o, want)? };
        // SAFETY: `ptr` holds at least `want` aligned floats and no other slice of it exists.
        outputs.push(unsafe { std::slice::from_raw_parts_mut(ptr, want) });
    }
    exec.run(&inputs, &mut outputs)?;
    if let Some(v) = &p.verify {
        let outs: Vec<&[f32]> = outputs.iter().map(|o| &**o).collect();
        v.check(&p.logger, &inputs, &outs)?;
    }
    Ok(())
}

/// The element count of input tensor `i` from its current dims.
fn input_len(ctx: *mut TfLiteContext, i: i32) -> Result<usize, String> {
    let model = ContextModel { ctx };
    let t = model.tensor(i).ok_or_else(|| format!("tensor {i} does not exist"))?;
    Ok(t.shape().ok_or_else(|| format!("input '{}' has an unknown shape", t.name))?.iter().product())
}
