//! Compiling a policy module once and calling it through waPC.
//!
//! A [`PolicyModule`] is a module compiled by Wasmtime (Cranelift) with WASI
//! enabled, as Kubewarden's policy evaluator does; it is cheap to clone and
//! can be shared between threads. Calls go through a [`PolicyInstance`]: a
//! `wapc::WapcHost` over one instantiation of the module, reused for every
//! call, with its own [`HostCapabilities`] and records of the host calls and
//! log lines. The call methods on `PolicyModule` itself use one instance per
//! thread without fixtures.
//!
//! Every call runs under a deadline (epoch interruption, as PolicyServer's
//! policy timeout): [`DEFAULT_TIMEOUT`], or `WAPC_HOST_TIMEOUT_MS`. Every
//! instance runs under a linear-memory limit (Wasmtime's `StoreLimits`, set
//! through wasmtime-provider's resource limits): [`DEFAULT_MEMORY_LIMIT`],
//! or `WAPC_HOST_MEMORY_LIMIT_MB`; its tables under [`MAX_TABLE_ELEMENTS`].
//! Compiled code is cached on disk by Wasmtime (keyed by module, engine
//! settings and Wasmtime version) in `target/wasmtime-cache`, so that each
//! test binary or `policy-eval` run does not compile the modules again.

use crate::host::{HostCall, HostCapabilities, HostState, LogEntry};
use crate::response::{SettingsValidation, ValidationResponse};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use wapc::WapcHost;
use wasmtime_provider::wasmtime;
use wasmtime_provider::{
    EpochDeadlines, ResourceLimits, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre,
};

/// Deadline of one guest call (and of `wapc_init`) unless
/// [`TIMEOUT_ENV`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Environment variable: the deadline of one guest call, in milliseconds.
pub const TIMEOUT_ENV: &str = "WAPC_HOST_TIMEOUT_MS";

/// The most linear memory one instance may have (what its module declares
/// at first, then every `memory.grow` of the guest), in bytes, unless
/// [`MEMORY_LIMIT_ENV`] says otherwise: 256 MiB.
///
/// Generous for real requests, which need little beyond the modules'
/// initial 1.1 to 1.2 MiB (a Deployment: 1.2 MiB at most; a pod of 100
/// containers: 1.8 MiB), and enough for the largest request the API server
/// accepts (it refuses bodies over 3 MiB) in the densest form measured: a
/// pod of 28,000 containers in 3 MiB needs at most 145 MiB in any module,
/// 48 bytes per request byte (`make bench BENCH_ARGS=--memory`). Low enough
/// that a guest which grows its memory without end fails its call at once
/// instead of taking the wasm32 maximum, 4 GiB, from the host per instance.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 * 1024 * 1024;
/// Environment variable: the linear-memory limit of each instance, in MiB.
pub const MEMORY_LIMIT_ENV: &str = "WAPC_HOST_MEMORY_LIMIT_MB";
/// The most elements each table of an instance may have. The policy modules
/// declare one table of about 700 function references that cannot grow
/// (its maximum is its minimum); the limit only matters for other modules.
pub const MAX_TABLE_ELEMENTS: usize = 10_000;
/// The size of a WebAssembly page, the unit in which linear memory grows.
pub const WASM_PAGE_SIZE: usize = 64 * 1024;

/// Environment variable: the folder of Wasmtime's cache of compiled
/// modules (`off` to compile every time).
pub const CACHE_ENV: &str = "WAPC_HOST_CACHE_DIR";

/// Environment variable: `perfmap` names the compiled wasm functions for Linux `perf`
/// (`perf record` a benchmark, then `perf report`; build the module unstripped to see
/// its function names).
pub const PROFILER_ENV: &str = "WAPC_HOST_PROFILER";

const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The Wasmtime engine shared by every module, with epoch interruption on
/// and a thread that advances the epoch every [`EPOCH_TICK`].
fn engine() -> Result<wasmtime::Engine> {
    static ENGINE: OnceLock<Result<wasmtime::Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = wasmtime::Config::new();
            config.epoch_interruption(true);
            // For `perf record`: the compiled functions named in /tmp/perf-<pid>.map.
            if std::env::var_os(PROFILER_ENV).is_some_and(|v| v == "perfmap") {
                config.profiler(wasmtime::ProfilingStrategy::PerfMap);
            }
            if let Some(dir) = cache_dir() {
                let mut cache = wasmtime::CacheConfig::new();
                cache.with_directory(dir);
                // Without a usable cache, modules are compiled every time.
                config.cache(wasmtime::Cache::new(cache).ok());
            }
            let engine = wasmtime::Engine::new(&config).map_err(|e| format!("{e:#}"))?;
            let ticker = engine.weak();
            std::thread::Builder::new()
                .name("wapc-host-epoch".to_owned())
                .spawn(move || {
                    while let Some(engine) = ticker.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(EPOCH_TICK);
                    }
                })
                .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
            Ok(engine)
        })
        .clone()
        .map_err(|e| anyhow!("cannot create the Wasmtime engine: {e}"))
}

/// Where compiled code is cached between processes: `WAPC_HOST_CACHE_DIR`
/// (`off` or empty: no cache), else `<target>/wasmtime-cache`.
fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(dir) if dir.is_empty() || dir == "off" => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => Some(crate::modules::target_dir().join("wasmtime-cache")),
    }
}

fn call_timeout() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

fn memory_limit() -> usize {
    std::env::var(MEMORY_LIMIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&mib| mib > 0)
        .map_or(DEFAULT_MEMORY_LIMIT, |mib| mib.saturating_mul(1024 * 1024))
}

/// A guest function failed: the guest returned an error, trapped (panic,
/// `unreachable`, an allocation past the memory limit) or ran past its
/// deadline. Reaches callers inside
/// `anyhow::Error`; `downcast_ref::<GuestError>()` gives the parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestError {
    /// The module's name (file stem).
    pub module: String,
    /// The waPC operation called (`validate`, ...).
    pub operation: String,
    /// The guest's error message, or the trap as Wasmtime reports it.
    pub message: String,
}

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "module {} failed in guest function {:?}: {}",
            self.module, self.operation, self.message
        )
    }
}

impl std::error::Error for GuestError {}

struct Compiled {
    name: String,
    path: Option<PathBuf>,
    size: usize,
    module: wasmtime::Module,
    /// Linked and ready to instantiate, one for each memory limit in use
    /// (wasmtime-provider fixes the limits when it builds one), kept for
    /// the life of the module.
    pres: Mutex<HashMap<usize, Arc<WasmtimeEngineProviderPre>>>,
}

impl Compiled {
    fn pre(&self, memory_limit: usize) -> Result<Arc<WasmtimeEngineProviderPre>> {
        let mut pres = self.pres.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pre) = pres.get(&memory_limit) {
            return Ok(Arc::clone(pre));
        }
        let pre = WasmtimeEngineProviderBuilder::new()
            .engine(self.module.engine().clone())
            .module(self.module.clone())
            .wasi_params(wapc::WasiParams::default())
            .enable_resource_limits(ResourceLimits {
                max_memory_size: Some(memory_limit),
                max_table_elements: Some(MAX_TABLE_ELEMENTS),
            })
            .build_pre()
            .map_err(|e| anyhow!("cannot link the module: {e}"))?;
        let pre = Arc::new(pre);
        pres.insert(memory_limit, Arc::clone(&pre));
        Ok(pre)
    }
}

/// A compiled policy module. Clones share the compiled code.
#[derive(Clone)]
pub struct PolicyModule {
    inner: Arc<Compiled>,
    /// Tells apart modules (and limits) for the per-thread instances.
    id: u64,
    timeout: Duration,
    memory_limit: usize,
}

fn next_id() -> u64 {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyModule")
            .field("name", &self.inner.name)
            .field("path", &self.inner.path)
            .field("size", &self.inner.size)
            .field("timeout", &self.timeout)
            .field("memory_limit", &self.memory_limit)
            .finish()
    }
}

impl PolicyModule {
    /// Read and compile the module at `path`, then instantiate it once to
    /// check that its `wapc_init` runs.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            bail!(
                "policy module {} not found: build the policy modules first with `make build` \
                 (or `cargo build --release --target wasm32-wasip1 -p NAME`)",
                path.display()
            );
        }
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read policy module {}", path.display()))?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        Self::compile(name, Some(path.to_path_buf()), &bytes)
            .with_context(|| format!("cannot load policy module {}", path.display()))
    }

    /// Compile a module from its bytes (a `.wasm` binary, or WebAssembly
    /// text), named `name` in messages.
    pub fn from_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<Self> {
        let name = name.into();
        Self::compile(name.clone(), None, bytes)
            .with_context(|| format!("cannot load policy module {name}"))
    }

    /// Like [`PolicyModule::load`], but compiled once per process: later
    /// calls with the same file (same canonical path, size and modification
    /// time) return the module compiled first. Safe to call from many
    /// threads at once; only one of them compiles.
    pub fn load_cached(path: impl AsRef<Path>) -> Result<Self> {
        type Slot = Arc<Mutex<Option<(FileStamp, PolicyModule)>>>;
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, Slot>>> = OnceLock::new();

        let path = path.as_ref();
        let Ok(key) = path.canonicalize() else {
            // Let `load` give the error (not found, ...).
            return Self::load(path);
        };
        let slot: Slot = {
            let mut map = CACHE
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = FileStamp::of(&key)?;
        if let Some((cached_stamp, module)) = slot.as_ref()
            && *cached_stamp == stamp
        {
            return Ok(module.clone());
        }
        let module = Self::load(path)?;
        *slot = Some((stamp, module.clone()));
        Ok(module)
    }

    fn compile(name: String, path: Option<PathBuf>, bytes: &[u8]) -> Result<Self> {
        let engine = engine()?;
        let compiled = wasmtime::Module::new(&engine, bytes)
            .map_err(|e| anyhow!("cannot compile the module: {e:#}"))?;
        let module = Self {
            inner: Arc::new(Compiled {
                name,
                path,
                size: bytes.len(),
                module: compiled,
                pres: Mutex::new(HashMap::new()),
            }),
            id: next_id(),
            timeout: call_timeout(),
            memory_limit: memory_limit(),
        };
        // Instantiate once, as PolicyServer does at start-up, so that a
        // module whose `wapc_init` fails is a load error.
        module.instance()?;
        Ok(module)
    }

    /// The same compiled module with another deadline for each guest call
    /// (and `wapc_init`), rounded up to the 10 ms epoch tick.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            id: next_id(),
            timeout,
            memory_limit: self.memory_limit,
        }
    }

    /// The deadline of each guest call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same compiled module whose instances may have at most `bytes` of
    /// linear memory (in effect, rounded down to whole 64 KiB pages). A
    /// `memory.grow` past it fails, and the policy modules abort on the
    /// failed allocation: the call fails with a [`GuestError`] that names
    /// the limit. A limit below the module's initial memory
    /// ([`PolicyModule::initial_memory`]) makes every instantiation fail.
    pub fn with_memory_limit(&self, bytes: usize) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            id: next_id(),
            timeout: self.timeout,
            memory_limit: bytes,
        }
    }

    /// The most linear memory each instance may have, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// The linear memory the module declares at first (data, stack and
    /// heap start), in bytes: the least any of its instances has. `None`
    /// for a module that exports no memory.
    pub fn initial_memory(&self) -> Option<u64> {
        match self.inner.module.get_export("memory")? {
            wasmtime::ExternType::Memory(memory) => {
                Some(memory.minimum().saturating_mul(memory.page_size()))
            }
            _ => None,
        }
    }

    fn deadlines(&self) -> EpochDeadlines {
        let ticks = self
            .timeout
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis())
            .max(1);
        let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
        EpochDeadlines {
            wapc_init: ticks,
            wapc_func: ticks,
        }
    }

    /// The module's name: the file stem, or the name given to `from_bytes`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The file the module was loaded from.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Size of the module in bytes.
    pub fn size_bytes(&self) -> usize {
        self.inner.size
    }

    /// A new instance without fixtures: only logging is answered.
    pub fn instance(&self) -> Result<PolicyInstance> {
        self.instance_with(HostCapabilities::new())
    }

    /// A new instance whose host answers capabilities from `capabilities`.
    pub fn instance_with(&self, capabilities: HostCapabilities) -> Result<PolicyInstance> {
        PolicyInstance::new(self.clone(), capabilities)
    }

    /// This thread's instance without fixtures, made on first use.
    fn thread_instance(&self) -> Result<Rc<PolicyInstance>> {
        thread_local! {
            static INSTANCES: RefCell<HashMap<u64, Rc<PolicyInstance>>> = RefCell::new(HashMap::new());
        }
        if let Some(found) = INSTANCES.with(|map| map.borrow().get(&self.id).cloned()) {
            // Nobody reads this instance's records but the current caller.
            found.clear_records();
            return Ok(found);
        }
        let instance = Rc::new(self.instance()?);
        INSTANCES.with(|map| map.borrow_mut().insert(self.id, Rc::clone(&instance)));
        Ok(instance)
    }

    /// Call guest function `operation` with a raw payload (see
    /// [`PolicyInstance::call`]).
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.thread_instance()?.call(operation, payload)
    }

    /// See [`PolicyInstance::protocol_version`].
    pub fn protocol_version(&self) -> Result<String> {
        self.thread_instance()?.protocol_version()
    }

    /// See [`PolicyInstance::validate_settings`].
    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation> {
        self.thread_instance()?.validate_settings(settings)
    }

    /// See [`PolicyInstance::validate`].
    pub fn validate(&self, validation_request: &Value) -> Result<ValidationResponse> {
        self.thread_instance()?.validate(validation_request)
    }

    /// See [`PolicyInstance::validate_raw`].
    pub fn validate_raw(&self, payload: &[u8]) -> Result<ValidationResponse> {
        self.thread_instance()?.validate_raw(payload)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read policy module {}", path.display()))?;
        Ok(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// One instantiation of a [`PolicyModule`] behind a `wapc::WapcHost`,
/// reused for every call, with its host capabilities and the records of the
/// host calls made through it. Not `Send`: use one per thread.
///
/// After a failed call (guest error, trap or timeout) the next call runs in
/// a fresh instantiation, so that a trapped guest never serves again; the
/// records are kept.
pub struct PolicyInstance {
    module: PolicyModule,
    state: Arc<HostState>,
    host: RefCell<Option<WapcHost>>,
}

impl fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("module", &self.module)
            .field("state", &self.state)
            .finish()
    }
}

impl PolicyInstance {
    fn new(module: PolicyModule, capabilities: HostCapabilities) -> Result<Self> {
        let state = Arc::new(HostState::new(capabilities));
        let host = Self::instantiate(&module, &state)?;
        Ok(Self {
            module,
            state,
            host: RefCell::new(Some(host)),
        })
    }

    fn instantiate(module: &PolicyModule, state: &Arc<HostState>) -> Result<WapcHost> {
        let provider = module
            .inner
            .pre(module.memory_limit)?
            .rehydrate(Some(module.deadlines()))
            .map_err(|e| anyhow!("cannot instantiate module {}: {e}", module.name()))?;
        let state = Arc::clone(state);
        let callback =
            move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
                state
                    .host_call(binding, namespace, operation, payload)
                    .map_err(Into::into)
            };
        WapcHost::new(Box::new(provider), Some(Box::new(callback))).map_err(|e| {
            anyhow!(
                "cannot initialise module {} (wapc_init): {e}",
                module.name()
            )
        })
    }

    /// The module this instance runs.
    pub fn module(&self) -> &PolicyModule {
        &self.module
    }

    /// Call guest function `operation` with a raw payload; the raw answer.
    /// A guest error, trap or timeout is an `Err` holding a [`GuestError`].
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>> {
        let mut slot = self.host.borrow_mut();
        let host = match slot.take() {
            Some(host) => host,
            None => Self::instantiate(&self.module, &self.state)?,
        };
        let start = Instant::now();
        match host.call(operation, payload) {
            Ok(answer) => {
                *slot = Some(host);
                Ok(answer)
            }
            Err(e) => {
                // Drop the instance: a trapped guest may be left inconsistent.
                let message = match e {
                    wapc::errors::Error::GuestCallFailure(message) => message,
                    other => other.to_string(),
                };
                let message = explain_trap(message, start.elapsed(), &self.module);
                Err(GuestError {
                    module: self.module.name().to_owned(),
                    operation: operation.to_owned(),
                    message,
                }
                .into())
            }
        }
    }

    /// Guest function `protocol_version`: the protocol the module speaks
    /// (`"v1"`).
    pub fn protocol_version(&self) -> Result<String> {
        let answer = self.call("protocol_version", b"")?;
        let value: Value = decode(&answer, self.module.name(), "protocol_version")?;
        match value {
            Value::String(version) => Ok(version),
            other => bail!(
                "module {} answered protocol_version with {other}, not a JSON string",
                self.module.name()
            ),
        }
    }

    /// Guest function `validate_settings` with the settings as JSON.
    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation> {
        let payload = serde_json::to_vec(settings)?;
        let answer = self.call("validate_settings", &payload)?;
        decode(&answer, self.module.name(), "validate_settings")
    }

    /// Guest function `validate` with a Kubewarden validation request
    /// `{"settings": {...}, "request": <AdmissionRequest>}`.
    pub fn validate(&self, validation_request: &Value) -> Result<ValidationResponse> {
        let payload = serde_json::to_vec(validation_request)?;
        self.validate_raw(&payload)
    }

    /// Guest function `validate` with any payload bytes (for malformed
    /// input tests).
    pub fn validate_raw(&self, payload: &[u8]) -> Result<ValidationResponse> {
        let answer = self.call("validate", payload)?;
        decode(&answer, self.module.name(), "validate")
    }

    /// Every host call made through this instance, log calls included, in
    /// order.
    pub fn host_calls(&self) -> Vec<HostCall> {
        self.state.records().calls.clone()
    }

    /// The host calls other than logging (capability lookups), in order.
    pub fn capability_calls(&self) -> Vec<HostCall> {
        self.state
            .records()
            .calls
            .iter()
            .filter(|c| !c.is_log())
            .cloned()
            .collect()
    }

    /// The log lines the guest sent, in order.
    pub fn logs(&self) -> Vec<LogEntry> {
        self.state.records().logs.clone()
    }

    /// Forget the recorded host calls and log lines.
    pub fn clear_records(&self) {
        let mut records = self.state.records();
        records.calls.clear();
        records.logs.clear();
    }

    /// Numbers of host calls and logs recorded so far (a mark for
    /// [`PolicyInstance::records_since`]).
    pub(crate) fn records_mark(&self) -> (usize, usize) {
        let records = self.state.records();
        (records.calls.len(), records.logs.len())
    }

    /// Capability calls and logs recorded after `mark`.
    pub(crate) fn records_since(&self, mark: (usize, usize)) -> (Vec<HostCall>, Vec<LogEntry>) {
        let records = self.state.records();
        let calls = records
            .calls
            .get(mark.0..)
            .unwrap_or_default()
            .iter()
            .filter(|c| !c.is_log())
            .cloned()
            .collect();
        let logs = records.logs.get(mark.1..).unwrap_or_default().to_vec();
        (calls, logs)
    }
}

/// Wasmtime-provider reports a trap with the backtrace only, without its
/// cause: say what it was.
fn explain_trap(message: String, elapsed: Duration, module: &PolicyModule) -> String {
    if !message.contains("wasm backtrace") && !message.contains("wasm trap") {
        return message;
    }
    let timeout = module.timeout;
    if elapsed >= timeout {
        format!(
            "guest code interrupted: execution deadline exceeded ({} ms); {message}",
            timeout.as_millis()
        )
    } else {
        // A `memory.grow` refused by the limit returns -1 to the guest, which
        // aborts on the failed allocation as it does on a panic: the host
        // cannot tell the two apart, the guest's stderr can.
        format!(
            "guest trapped: it panicked, or ran out of memory (its linear memory is limited \
             to {} (set {MEMORY_LIMIT_ENV}); a failed allocation aborts it), or hit another \
             WebAssembly trap; the guest writes the cause on stderr (\"memory allocation of N \
             bytes failed\", or the panic message); {message}",
            show_bytes(module.memory_limit)
        )
    }
}

/// `bytes` in MiB when it is a whole number of them, else in KiB or bytes.
fn show_bytes(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    answer: &[u8],
    module: &str,
    operation: &str,
) -> Result<T> {
    serde_json::from_slice(answer).map_err(|e| {
        let text = String::from_utf8_lossy(answer);
        let shown: String = text.chars().take(500).collect();
        let more = if shown.len() < text.len() { "..." } else { "" };
        anyhow!(
            "module {module} answered {operation} with something that is not the expected JSON \
             ({e}): {shown}{more}"
        )
    })
}

/// What [`crate::evaluate`] can run requests on: a [`PolicyModule`] (this
/// thread's instance without fixtures) or a [`PolicyInstance`].
pub trait Evaluator {
    #[doc(hidden)]
    fn with_instance<R>(&self, f: &mut dyn FnMut(&PolicyInstance) -> R) -> Result<R>;
}

impl Evaluator for PolicyModule {
    fn with_instance<R>(&self, f: &mut dyn FnMut(&PolicyInstance) -> R) -> Result<R> {
        let instance = self.thread_instance()?;
        Ok(f(&instance))
    }
}

impl Evaluator for PolicyInstance {
    fn with_instance<R>(&self, f: &mut dyn FnMut(&PolicyInstance) -> R) -> Result<R> {
        Ok(f(self))
    }
}

impl<T: Evaluator> Evaluator for &T {
    fn with_instance<R>(&self, f: &mut dyn FnMut(&PolicyInstance) -> R) -> Result<R> {
        (**self).with_instance(f)
    }
}
