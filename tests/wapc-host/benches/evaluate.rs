//! Evaluation time, peak memory and size of the policy modules: in the native waPC host
//! (wasmtime, each module compiled once and one instance reused, as `kwctl bench` does;
//! PolicyServer rehydrates a fresh instance per request, which `make load` measures)
//! and natively in the rule crate (`windows_workload_rules::wapc::policy::validate`, the
//! function the module's `validate` entry point calls, on the same request bytes); beside
//! them the floor module (`tests/floor-module`: decode the request, the settings and the
//! pod spec, then accept; natively `validate_floor`) and the reference policy
//! (`pod-privileged-policy` 1.0.13, `kubewarden::reference_policy`); the cost of the node
//! inventory; then `kwctl bench` (Kubewarden's engine) of the same policies, interleaved;
//! then one table per engine with the ratios (flagship / reference, module / floor,
//! flagship / fastest other module) and the targets, each MET or NOT MET.
//!
//! `make bench`, or `cargo bench -p wapc-test-host [-- [--time|--memory|--kwctl] [--no-kwctl] [--json|--markdown] [--rounds N] [--kwctl-seconds WARM,MEASURE] [--settings FILE] [MODULE.wasm...]]`
//! (`--time`: evaluation time in our host only; `--memory`: peak memory only; `--kwctl`:
//! kwctl bench only; all by default)
//!
//! Modules: the paths given, else `BENCH_MODULES` (paths separated by `:`), else every
//! `*.wasm` in `WASM_MODULES_DIR` (what `make bench` sets: the shipped modules), else in
//! `target/wasm32-wasip1/release/`. A module's native twin is the rule crate's module of
//! the same name. The floor module: `FLOOR_MODULE` (what `make bench` sets), else
//! `target/bench-modules/windows_workloads_floor.wasm` if it exists. Samples: a small Pod,
//! two typical Deployments of the corpus (a Linux one, kube-state-metrics, and a Windows
//! one, also as the OS placement rules leave it), and Windows pods of 1, 10 and 100
//! containers; and as UPDATEs, the Windows Deployment with a new image and with a new
//! label, and the 10-container pod with a new image. For each, `validate` runs timed
//! iterations (about 0.4 s, 20 to 5000 iterations) in 4 rounds that take turns across the
//! policies, each after a warm-up, so that a noisy spell of the machine does not fall on
//! one policy whole; the table gives medians in microseconds and the ratio wasm /
//! native, then the summaries the performance targets are about.
//!
//! kwctl bench: the Linux Deployment, the compliant Windows Deployment (as the OS
//! placement rules leave it), the Windows Deployment as written and the pod of 100
//! containers; the reference policy, the floor module and every module (annotated). For
//! each round, each sample and each policy one `kwctl bench` run (warm-up 1 s,
//! measurement 1 s by default): the figure is the median of the runs' medians.
//!
//! Node inventory: the flagship on the compliant Windows Deployment with `nodeInventory`
//! on, our host answering `kubernetes/list_resources_all` with 1, 100 and 1,000 Windows
//! nodes (copies of a node of `tests/fixtures/nodes/aks-two-windows-builds.json`), or
//! failing, against the same request with it off. In kwctl bench the same with replayed
//! sessions: kwctl's replay answers only the first host call of a bench run, so those
//! figures measure the host call and the fallback, not the decoding of the list.
//!
//! gMSA admission: windows-gmsa, and the flagship with ID-3…ID-7 on, on a Windows Pod
//! that names no credential spec, one that names one (looked up, authorized, inlined) and
//! one that brings its contents, our host answering `get_resource` and `can_i` at once.
//!
//! Peak memory: the linear memory one `validate` call needs on a fresh instance (after
//! `wapc_init`, as PolicyServer instantiates), for the small Pod, the two Deployments as
//! written, the Windows pod of 100 containers, the two largest hostile inputs of
//! `tests/hostile_inputs.rs` (a pod of 10,000 privileged containers, 1.1 MB; a pod with
//! a 5 MiB annotation) and the same pod with as many containers as fit in 3 MiB, the API
//! server's limit on a request body (28,000). wasm memory never shrinks, so the peak is the memory's size after the
//! call; the host cannot read it through wasmtime-provider, so the harness finds the
//! least limit (`PolicyModule::with_memory_limit`, whole 64 KiB pages) under which the
//! call still answers, by bisection between the module's initial memory and the host's
//! default limit, each probe on a fresh instance. Probes under too small a limit make
//! the guest print `memory allocation of N bytes failed` on stderr: expected.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wapc_test_host::kubewarden;
use wapc_test_host::samples::{
    FIXED_DEPLOYMENT, LINUX_DEPLOYMENT, WINDOWS_DEPLOYMENT, deployment, engine_sample_names,
    fixed_deployment, pods, windows_pod,
};
use wapc_test_host::{
    DEFAULT_MEMORY_LIMIT, FLOOR_MODULE_ENV, HostCapabilities, Input, MODULES_DIR_ENV, PolicyModule,
    WASM_PAGE_SIZE, decide, floor_module, release_dir, target_dir, workspace_root,
};
use windows_workload_rules::engine::module::Module;
use windows_workload_rules::facts::host::NoHostCalls;
use windows_workload_rules::modules::MODULES;
use windows_workload_rules::wapc::policy::{FLOOR, validate_floor, validate_floor_settings};

const WARM_UP: usize = 10;
const MIN_ITERATIONS: usize = 20;
const MAX_ITERATIONS: usize = 5000;
const BUDGET: Duration = Duration::from_millis(400);

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Table,
    Json,
    Markdown,
}

struct Options {
    format: Format,
    time: bool,
    memory: bool,
    /// `kwctl bench` of every module, the floor and the reference policy.
    kwctl: bool,
    settings: Value,
    modules: Vec<PathBuf>,
    /// The floor module, when built.
    floor: Option<PathBuf>,
    /// The reference policy, when present.
    reference: Option<PathBuf>,
    /// Rounds of kwctl bench runs (each policy once per sample and round).
    rounds: usize,
    /// kwctl bench's warm-up and measurement times, in seconds.
    kwctl_seconds: (u32, u32),
}

fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let mut modules: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect()
        })
        .unwrap_or_default();
    modules.sort();
    modules
}

fn options() -> Result<Options, String> {
    let mut format = Format::Table;
    let (mut time, mut memory, mut kwctl) = (true, true, true);
    let mut settings = json!({});
    let mut modules = Vec::new();
    let (mut rounds, mut kwctl_seconds) = (2, (1, 1));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => format = Format::Json,
            "--markdown" => format = Format::Markdown,
            "--time" => (time, memory, kwctl) = (true, false, false),
            "--memory" => (time, memory, kwctl) = (false, true, false),
            "--kwctl" => (time, memory, kwctl) = (false, false, true),
            "--no-kwctl" => kwctl = false,
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--rounds needs a number of rounds, at least 1")?;
            }
            "--kwctl-seconds" => {
                kwctl_seconds = args
                    .next()
                    .and_then(|pair| {
                        let (warm_up, measure) = pair.split_once(',')?;
                        Some((warm_up.parse().ok()?, measure.parse().ok()?))
                    })
                    .filter(|(_, measure)| *measure > 0)
                    .ok_or("--kwctl-seconds needs WARM_UP,MEASUREMENT in whole seconds")?;
            }
            // Passed by `cargo bench` to every bench target.
            "--bench" => {}
            "--settings" => {
                let path = args.next().ok_or("--settings needs a file")?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                settings =
                    serde_yaml::from_str(&text).map_err(|e| format!("cannot parse {path}: {e}"))?;
            }
            "-h" | "--help" => {
                return Err("usage: cargo bench -p wapc-test-host -- [--time|--memory|--kwctl] [--no-kwctl] [--json|--markdown] [--rounds N] [--kwctl-seconds WARM,MEASURE] [--settings FILE] [MODULE.wasm...]".into());
            }
            other if other.starts_with('-') => eprintln!("bench: ignoring option {other}"),
            path => modules.push(PathBuf::from(path)),
        }
    }
    if modules.is_empty()
        && let Ok(list) = std::env::var("BENCH_MODULES")
    {
        modules = list
            .split(':')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect();
    }
    if modules.is_empty()
        && let Some(dir) = std::env::var_os(MODULES_DIR_ENV).filter(|d| !d.is_empty())
    {
        modules = wasm_files(Path::new(&dir));
    }
    if modules.is_empty() {
        modules = wasm_files(&release_dir());
    }
    let floor = floor_module();
    if floor.is_none() {
        eprintln!(
            "bench: no floor module: build it with `make bench-modules` (or set {FLOOR_MODULE_ENV})"
        );
    }
    let reference = kubewarden::reference_policy()
        .map_err(|e| {
            eprintln!(
                "bench: the reference policy is not measured ({e:#}): every module is \
                 measured against the floor module; the README keeps the last reference figures"
            )
        })
        .ok();
    Ok(Options {
        format,
        time,
        memory,
        kwctl,
        settings,
        modules,
        floor,
        reference,
        rounds,
        kwctl_seconds,
    })
}

const SMALL: &str = "small pod";
const UPDATED_DEPLOYMENT: &str = "deployment (windows), UPDATE of its image";
const RELABELLED_DEPLOYMENT: &str = "deployment (windows), UPDATE of a label";
const UPDATED_POD: &str = "windows pod 10, UPDATE of an image";

const HOSTILE_CONTAINERS: &str = "hostile: 10,000 privileged";
const HOSTILE_5_MIB: &str = "hostile: 5 MiB request";
const API_SERVER_LIMIT: &str = "28,000 privileged (3 MiB)";

/// The two largest inputs of `tests/hostile_inputs.rs`: a Windows pod of 10,000
/// privileged containers, and a one-container Windows pod with a 5 MiB annotation; then
/// the first with 28,000 containers, as many as fit in a 3 MiB request.
fn hostile_samples() -> Vec<(String, Input)> {
    let windows_pod = |containers: Vec<Value>| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "default"},
            "spec": {"nodeSelector": {"kubernetes.io/os": "windows"}, "containers": containers}})
    };
    let privileged = |n: usize| {
        (0..n)
            .map(|i| json!({"name": format!("c{i}"), "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                "securityContext": {"privileged": true}}))
            .collect()
    };
    let mut annotated = windows_pod(vec![json!({"name": "a", "image": "example.com/a:1"})]);
    annotated["metadata"]["annotations"] = json!({"big": "x".repeat(5 * 1024 * 1024)});
    [
        (HOSTILE_CONTAINERS, windows_pod(privileged(10_000))),
        (HOSTILE_5_MIB, annotated),
        (API_SERVER_LIMIT, windows_pod(privileged(28_000))),
    ]
    .into_iter()
    .filter_map(|(name, object)| {
        Input::from_object(object, name)
            .ok()
            .map(|input| (name.to_owned(), input))
    })
    .collect()
}

/// The samples of the memory table: the timed ones but the smaller Windows pods and the
/// fixed Deployment, then the hostile inputs.
fn memory_samples(samples: &[(String, Input)]) -> Vec<(String, Input)> {
    let mut chosen: Vec<(String, Input)> = samples
        .iter()
        .filter(|(name, _)| {
            [SMALL, LINUX_DEPLOYMENT, WINDOWS_DEPLOYMENT, &pods(100)].contains(&name.as_str())
        })
        .cloned()
        .collect();
    chosen.extend(hostile_samples());
    chosen
}

fn corpus_sample(name: &str) -> Option<Input> {
    deployment(name)
        .map_err(|e| eprintln!("bench: {e:#}: sample skipped"))
        .ok()
}

/// (sample name, input)
fn samples() -> Vec<(String, Input)> {
    let mut samples = Vec::new();
    let small = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "small"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}
    });
    if let Ok(input) = Input::from_object(small, "small-pod") {
        samples.push((SMALL.to_owned(), input));
    }
    for name in [LINUX_DEPLOYMENT, WINDOWS_DEPLOYMENT] {
        if let Some(input) = corpus_sample(name) {
            if name == WINDOWS_DEPLOYMENT {
                // As UPDATEs (the request carries the old object too): one that changes
                // the template (evaluated as a CREATE), one that changes a label only
                // (accepted untouched).
                let old = input.object().clone();
                let mut new_image = old.clone();
                new_image["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("mcr.microsoft.com/dotnet/samples:aspnetapp-nanoserver-ltsc2022");
                samples.push((
                    UPDATED_DEPLOYMENT.to_owned(),
                    input.as_update(new_image, &old),
                ));
                let mut relabelled = old.clone();
                relabelled["metadata"]["labels"] = json!({"release": "2"});
                samples.push((
                    RELABELLED_DEPLOYMENT.to_owned(),
                    input.as_update(relabelled, &old),
                ));
            }
            let fixed = (name == WINDOWS_DEPLOYMENT).then(|| fixed_deployment(&input));
            samples.push((name.to_owned(), input));
            match fixed {
                Some(Ok(fixed)) => samples.push((FIXED_DEPLOYMENT.to_owned(), fixed)),
                Some(Err(e)) => eprintln!("bench: {e:#}: sample skipped"),
                None => {}
            }
        }
    }
    for n in [1, 10, 100] {
        if let Ok(input) = Input::from_object(windows_pod(n), &format!("windows-pod-{n}")) {
            if n == 10 {
                // A running pod's image update: the fixes are limited to what the API
                // server accepts, and the old pod is evaluated too (pre-existing findings).
                let old = input.object().clone();
                let mut new = old.clone();
                new["spec"]["containers"][0]["image"] =
                    json!("mcr.microsoft.com/windows/servercore:ltsc2022-amd64");
                samples.push((UPDATED_POD.to_owned(), input.as_update(new, &old)));
            }
            samples.push((pods(n), input));
        }
    }
    samples
}

/// Rounds the timed figures are taken in. Each policy and sample is timed for
/// `BUDGET / TIME_ROUNDS` per round and the rounds take turns across policies, so that a
/// noisy spell of the machine (a few seconds, here) falls on every policy a little
/// rather than on one policy's samples whole; a figure is the median of all its calls.
const TIME_ROUNDS: u32 = 4;

/// Calls `f` (after a warm-up) until `budget` is spent, within the iteration bounds of
/// one round, adding each call's time to `times`.
fn time_calls(times: &mut Vec<Duration>, budget: Duration, mut f: impl FnMut()) {
    for _ in 0..WARM_UP {
        f();
    }
    let per_round = |bound: usize| bound.div_ceil(TIME_ROUNDS as usize);
    let begin = Instant::now();
    let mut calls = 0;
    while calls < per_round(MAX_ITERATIONS)
        && (calls < per_round(MIN_ITERATIONS) || begin.elapsed() < budget)
    {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
        calls += 1;
    }
}

/// The number of calls and their median, in µs.
fn median_of(mut times: Vec<Duration>) -> (usize, f64) {
    times.sort();
    let median = times.get(times.len().saturating_sub(1) / 2).copied();
    (times.len(), median.unwrap_or_default().as_secs_f64() * 1e6)
}

/// One policy on one sample, timed over the rounds.
struct Timed {
    row: Row,
    /// The index of the policy's instance in the timed instances.
    instance: usize,
    twin: Option<Native>,
    payload: Vec<u8>,
    wasm_times: Vec<Duration>,
    native_times: Vec<Duration>,
}

/// What a timed policy is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// One of the shipped modules.
    Module,
    /// The floor module (never shipped).
    Floor,
    /// The reference policy of Kubewarden's monorepo.
    Reference,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Floor => "floor",
            Kind::Reference => "reference",
        }
    }
}

/// The native twin of a module: the rule crate's function its `validate` calls.
#[derive(Clone, Copy)]
enum Native {
    Module(&'static Module),
    Floor,
}

impl Native {
    fn validate(self, payload: &[u8]) -> Vec<u8> {
        match self {
            Native::Module(module) => {
                windows_workload_rules::wapc::policy::validate(module, &NoHostCalls, payload)
            }
            Native::Floor => validate_floor(payload),
        }
    }

    fn rules(self) -> usize {
        match self {
            Native::Module(module) => module.rules.len(),
            Native::Floor => 0,
        }
    }
}

struct Row {
    module: String,
    /// The name in the engine tables (the module's, the floor's, [`REFERENCE`]).
    policy: String,
    kind: Kind,
    rules: Option<usize>,
    size: usize,
    sample: String,
    payload_bytes: usize,
    decision: &'static str,
    iterations: usize,
    wasm_us: f64,
    native_us: Option<f64>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        self.native_us.map(|n| self.wasm_us / n)
    }
}

/// The rule crate's module that a `.wasm` file was built from (file stem
/// `windows_pod_compatibility` for module `windows-pod-compatibility`).
fn native_twin(stem: &str) -> Option<&'static Module> {
    MODULES
        .iter()
        .copied()
        .find(|m| m.name.replace('-', "_") == stem)
}

/// The policies of the time tables: every module, then the floor and the reference.
fn timed_policies(options: &Options) -> Vec<(PathBuf, Kind)> {
    let mut policies: Vec<(PathBuf, Kind)> = options
        .modules
        .iter()
        .map(|p| (p.clone(), Kind::Module))
        .collect();
    policies.extend(options.floor.iter().map(|p| (p.clone(), Kind::Floor)));
    policies.extend(
        options
            .reference
            .iter()
            .map(|p| (p.clone(), Kind::Reference)),
    );
    policies
}

/// The settings a policy is timed with: the bench's settings for the modules; for the
/// floor the same when it accepts them (it knows only the shared ones), else none; none
/// for the reference.
fn settings_for(
    kind: Kind,
    instance: &wapc_test_host::PolicyInstance,
    settings: &Value,
) -> Result<Value, String> {
    if kind == Kind::Reference {
        return Ok(json!({}));
    }
    match instance.validate_settings(settings) {
        Ok(v) if v.valid => Ok(settings.clone()),
        Ok(v) if kind == Kind::Floor => {
            eprintln!(
                "bench: the floor refuses the settings ({}): timed without them",
                v.message.unwrap_or_default()
            );
            Ok(json!({}))
        }
        Ok(v) => Err(format!(
            "settings invalid: {}",
            v.message.unwrap_or_default()
        )),
        Err(e) => Err(format!("{e:#}")),
    }
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if options.modules.is_empty() {
        eprintln!(
            "bench: no module found in {}: build them first (`make build`), or pass paths",
            release_dir().display()
        );
        return;
    }
    let samples = samples();
    let memory_samples = if options.memory {
        memory_samples(&samples)
    } else {
        Vec::new()
    };
    let mut timed: Vec<Timed> = Vec::new();
    let mut instances = Vec::new();
    let mut memory_rows = Vec::new();
    for (path, kind) in timed_policies(&options) {
        if !options.time && (kind != Kind::Module || !options.memory) {
            continue;
        }
        let start = Instant::now();
        let module = match PolicyModule::load(&path) {
            Ok(module) => module,
            Err(e) => {
                eprintln!("bench: {e:#}");
                continue;
            }
        };
        let compile_ms = start.elapsed().as_secs_f64() * 1e3;
        let instance = match module.instance() {
            Ok(instance) => instance,
            Err(e) => {
                eprintln!("bench: {e:#}");
                continue;
            }
        };
        let settings = match settings_for(kind, &instance, &options.settings) {
            Ok(settings) => settings,
            Err(e) => {
                eprintln!("bench: {}: {e}", module.name());
                continue;
            }
        };
        let twin = match kind {
            Kind::Module => native_twin(module.name()).map(Native::Module),
            Kind::Floor => Some(Native::Floor),
            Kind::Reference => None,
        };
        let policy = match kind {
            Kind::Module => module.name().replace('_', "-"),
            Kind::Floor => FLOOR.to_owned(),
            Kind::Reference => REFERENCE.to_owned(),
        };
        eprintln!(
            "bench: {} ({}, {} bytes) compiled in {compile_ms:.0} ms{}",
            module.name(),
            kind.name(),
            module.size_bytes(),
            if twin.is_some() {
                ""
            } else {
                "; no native twin in the rule crate"
            }
        );
        for (sample, input) in samples.iter().filter(|_| options.time) {
            let request = input.validation_request(&settings);
            let payload = serde_json::to_vec(&request).unwrap_or_default();
            let decision = match instance.validate_raw(&payload) {
                Ok(response) => decide(input.object(), &response).name(),
                Err(_) => "error",
            };
            timed.push(Timed {
                row: Row {
                    module: module.name().to_owned(),
                    policy: policy.clone(),
                    kind,
                    rules: twin.map(Native::rules),
                    size: module.size_bytes(),
                    sample: sample.clone(),
                    payload_bytes: payload.len(),
                    decision,
                    iterations: 0,
                    wasm_us: 0.0,
                    native_us: None,
                },
                instance: instances.len(),
                twin,
                payload,
                wasm_times: Vec::new(),
                native_times: Vec::new(),
            });
        }
        if options.time {
            instances.push(instance);
        }
        if kind != Kind::Module {
            continue;
        }
        for (sample, input) in &memory_samples {
            let request = input.validation_request(&options.settings);
            let payload = serde_json::to_vec(&request).unwrap_or_default();
            let start = Instant::now();
            match peak_memory(&module, &payload) {
                Ok(peak) => {
                    eprintln!(
                        "bench: {}: {sample}: peak {:.2} MiB ({} probes, {:.1} s)",
                        module.name(),
                        mib(peak.peak),
                        peak.probes,
                        start.elapsed().as_secs_f64()
                    );
                    memory_rows.push(MemoryRow {
                        module: module.name().to_owned(),
                        sample: sample.clone(),
                        payload_bytes: payload.len(),
                        peak,
                    });
                }
                Err(e) => eprintln!("bench: {}: {sample}: {e}", module.name()),
            }
        }
    }
    // The rounds: sample by sample, every policy in turn, each round starting with the
    // next policy.
    let policies = instances.len().max(1);
    for round in 0..TIME_ROUNDS as usize {
        eprintln!("bench: timing, round {}/{TIME_ROUNDS}", round + 1);
        for sample in samples.iter().map(|(name, _)| name) {
            let mut here: Vec<&mut Timed> = timed
                .iter_mut()
                .filter(|t| t.row.sample == *sample)
                .collect();
            here.sort_by_key(|t| (t.instance + policies - round % policies) % policies);
            for entry in here {
                let instance = &instances[entry.instance];
                let payload = &entry.payload;
                time_calls(&mut entry.wasm_times, BUDGET / TIME_ROUNDS, || {
                    let _ = instance.validate_raw(payload);
                    // The reference logs every call: forget the records, or they pile up.
                    instance.clear_records();
                });
                if let Some(native) = entry.twin {
                    time_calls(&mut entry.native_times, BUDGET / TIME_ROUNDS, || {
                        std::hint::black_box(native.validate(std::hint::black_box(payload)));
                    });
                }
            }
        }
    }
    let rows: Vec<Row> = timed
        .into_iter()
        .map(|entry| {
            let (iterations, wasm_us) = median_of(entry.wasm_times);
            let native_us = entry.twin.map(|_| median_of(entry.native_times).1);
            Row {
                iterations,
                wasm_us,
                native_us,
                ..entry.row
            }
        })
        .collect();
    let cases = node_cases(&options);
    let node_rows = if options.time {
        node_inventory(&options, &samples, &cases)
    } else {
        Vec::new()
    };
    let gmsa_rows = if options.time {
        gmsa_lookups(&options)
    } else {
        Vec::new()
    };
    let (kwctl_rows, kwctl_node_rows) = if options.kwctl {
        (
            kwctl_bench(&options, &samples),
            kwctl_node_inventory(&options, &samples, &cases),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let ours = engine_cells_of_rows(&rows);
    let theirs = engine_cells_of_kwctl(&kwctl_rows);
    let targets = targets(&rows, &ours, &theirs, options.time, options.kwctl);
    match options.format {
        Format::Json => {
            print_json(&JsonReport {
                time: options.time.then_some(&rows),
                memory: options.memory.then_some(&memory_rows),
                kwctl: options.kwctl.then_some(&kwctl_rows),
                nodes: options.time.then_some(&node_rows),
                kwctl_nodes: options.kwctl.then_some(&kwctl_node_rows),
                targets: &targets,
            });
            return;
        }
        Format::Table => {
            if options.time {
                print_table(&rows);
            }
        }
        Format::Markdown => {
            if options.time {
                print_markdown(&rows);
            }
        }
    }
    if options.time {
        print_summaries(&rows, options.format);
    }
    if options.memory {
        if options.time {
            println!();
        }
        print_memory(&memory_rows, options.format);
    }
    if options.time {
        println!();
        print_engine(
            "Our waPC host (wasmtime), validate: median µs",
            &ours,
            options.format,
        );
    }
    if options.kwctl && !kwctl_rows.is_empty() {
        println!();
        print_engine(
            &format!(
                "kwctl bench (Kubewarden's engine), validate: median of {} runs' medians, µs \
                 (warm-up {} s, measurement {} s; [least, most] of the runs)",
                options.rounds, options.kwctl_seconds.0, options.kwctl_seconds.1
            ),
            &theirs,
            options.format,
        );
    }
    if options.time || options.kwctl {
        println!();
        print_nodes(&node_rows, &kwctl_node_rows, options.format);
    }
    if !gmsa_rows.is_empty() {
        println!();
        print_gmsa(&gmsa_rows, options.format);
    }
    if !targets.is_empty() {
        println!();
        print_targets(&targets, options.format);
    }
}

/// The name the reference policy is shown under.
const REFERENCE: &str = "pod-privileged-policy 1.0.13 (reference)";

/// The flagship, the one the performance targets compare with the reference.
const FLAGSHIP: &str = "windows-workloads";

struct KwctlRow {
    policy: String,
    kind: Kind,
    sample: String,
    /// One per round, in order.
    runs: Vec<kubewarden::BenchFigures>,
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

impl KwctlRow {
    /// The median of the runs' medians.
    fn median_us(&self) -> Option<f64> {
        median(&mut self.runs.iter().map(|f| f.median_us).collect::<Vec<_>>())
    }

    fn spread(&self) -> Option<(f64, f64)> {
        let medians = self.runs.iter().map(|f| f.median_us);
        let least = medians.clone().min_by(f64::total_cmp)?;
        let most = medians.max_by(f64::total_cmp)?;
        Some((least, most))
    }
}

/// The policies kwctl bench runs: the reference, the floor (as built: kwctl runs a
/// module without metadata as a waPC policy), every module annotated with its metadata.
fn kwctl_policies(options: &Options) -> Vec<(String, Kind, PathBuf, Value)> {
    let mut policies = Vec::new();
    if let Some(reference) = &options.reference {
        policies.push((
            REFERENCE.to_owned(),
            Kind::Reference,
            reference.clone(),
            json!({}),
        ));
    }
    if let Some(floor) = &options.floor {
        // The bench's settings when the floor accepts them (as in our host), else none.
        let payload = serde_json::to_vec(&options.settings).unwrap_or_default();
        let accepted = serde_json::from_slice::<Value>(&validate_floor_settings(&payload))
            .is_ok_and(|answer| answer["valid"] == json!(true));
        let settings = if accepted {
            options.settings.clone()
        } else {
            json!({})
        };
        policies.push((FLOOR.to_owned(), Kind::Floor, floor.clone(), settings));
    }
    for path in &options.modules {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let Some(module) = native_twin(stem) else {
            eprintln!(
                "bench: kwctl bench: {} is not one of ours, skipped",
                path.display()
            );
            continue;
        };
        match kubewarden::annotated(module.name) {
            Ok((annotated, _)) => policies.push((
                module.name.to_owned(),
                Kind::Module,
                annotated,
                options.settings.clone(),
            )),
            Err(e) => eprintln!("bench: kwctl annotate {}: {e:#}", module.name),
        }
    }
    policies
}

/// `kwctl bench` (Kubewarden's own engine: policy-evaluator, wasmtime) of the reference
/// policy of Kubewarden's monorepo, the floor module and every module, annotated with its
/// metadata, on the same requests, interleaved: for each round, each sample and each
/// policy one run, so that a slow patch of the machine falls on every policy alike.
fn kwctl_bench(options: &Options, samples: &[(String, Input)]) -> Vec<KwctlRow> {
    if let Err(e) = kubewarden::tools() {
        eprintln!("bench: NOT RUN: kwctl bench, Kubewarden's engine is missing: {e:#}");
        return Vec::new();
    }
    let policies = kwctl_policies(options);
    let (warm_up, measure) = options.kwctl_seconds;
    let mut rows: Vec<KwctlRow> = Vec::new();
    let start = Instant::now();
    for round in 1..=options.rounds {
        for sample in engine_sample_names() {
            let Some((_, input)) = samples.iter().find(|(name, _)| *name == sample) else {
                continue;
            };
            for (policy, kind, path, settings) in &policies {
                match kubewarden::kwctl_bench(path, &input.request, settings, warm_up, measure) {
                    Ok(figures) => {
                        eprintln!(
                            "bench: kwctl bench, round {round}/{}, {policy}: {sample}: median {:.1} µs ({:.0} s so far)",
                            options.rounds,
                            figures.median_us,
                            start.elapsed().as_secs_f64()
                        );
                        match rows
                            .iter_mut()
                            .find(|r| r.policy == *policy && r.sample == sample)
                        {
                            Some(row) => row.runs.push(figures),
                            None => rows.push(KwctlRow {
                                policy: policy.clone(),
                                kind: *kind,
                                sample: sample.clone(),
                                runs: vec![figures],
                            }),
                        }
                    }
                    Err(e) => eprintln!("bench: kwctl bench {policy}: {sample}: {e:#}"),
                }
            }
        }
    }
    rows
}

/// One figure of an engine table.
struct EngineCell {
    policy: String,
    kind: Kind,
    sample: String,
    us: f64,
    /// The least and most of the runs, when there were several.
    spread: Option<(f64, f64)>,
}

fn engine_cells_of_rows(rows: &[Row]) -> Vec<EngineCell> {
    let samples = engine_sample_names();
    rows.iter()
        .filter(|r| samples.contains(&r.sample))
        .map(|r| EngineCell {
            policy: r.policy.clone(),
            kind: r.kind,
            sample: r.sample.clone(),
            us: r.wasm_us,
            spread: None,
        })
        .collect()
}

fn engine_cells_of_kwctl(rows: &[KwctlRow]) -> Vec<EngineCell> {
    rows.iter()
        .filter_map(|r| {
            Some(EngineCell {
                policy: r.policy.clone(),
                kind: r.kind,
                sample: r.sample.clone(),
                us: r.median_us()?,
                spread: r.spread().filter(|_| r.runs.len() > 1),
            })
        })
        .collect()
}

/// The figures of one engine, with the ratios the targets are about.
struct Engine<'a> {
    cells: &'a [EngineCell],
}

impl Engine<'_> {
    fn us(&self, policy: &str, sample: &str) -> Option<f64> {
        self.cells
            .iter()
            .find(|c| c.policy == policy && c.sample == sample)
            .map(|c| c.us)
    }

    fn of_kind(&self, kind: Kind, sample: &str) -> Option<f64> {
        self.cells
            .iter()
            .find(|c| c.kind == kind && c.sample == sample)
            .map(|c| c.us)
    }

    fn flagship_over_reference(&self, sample: &str) -> Option<f64> {
        Some(self.us(FLAGSHIP, sample)? / self.of_kind(Kind::Reference, sample)?)
    }

    fn over_floor(&self, policy: &str, sample: &str) -> Option<f64> {
        Some(self.us(policy, sample)? / self.of_kind(Kind::Floor, sample)?)
    }

    /// The fastest module other than the flagship on `sample`, and the flagship's time
    /// over its time.
    fn flagship_over_fastest(&self, sample: &str) -> Option<(f64, &str)> {
        let fastest = self
            .cells
            .iter()
            .filter(|c| c.kind == Kind::Module && c.policy != FLAGSHIP && c.sample == sample)
            .min_by(|a, b| a.us.total_cmp(&b.us))?;
        Some((
            self.us(FLAGSHIP, sample)? / fastest.us,
            fastest.policy.as_str(),
        ))
    }

    /// The policies in table order: the reference, the floor, then the modules.
    fn policies(&self) -> Vec<(&str, Kind)> {
        let mut policies: Vec<(&str, Kind)> = Vec::new();
        for kind in [Kind::Reference, Kind::Floor, Kind::Module] {
            for c in self.cells.iter().filter(|c| c.kind == kind) {
                if !policies.iter().any(|(p, _)| *p == c.policy) {
                    policies.push((&c.policy, kind));
                }
            }
        }
        policies
    }
}

/// A table as markdown, or as aligned text (the first column and the columns `left`
/// left-aligned, the others right-aligned, each as wide as its widest cell).
fn print_grid(format: Format, header: &[String], rows: &[Vec<String>]) {
    print_grid_aligned(format, header, rows, &[]);
}

fn print_grid_aligned(format: Format, header: &[String], rows: &[Vec<String>], left: &[usize]) {
    let is_left = |i: usize| i == 0 || left.contains(&i);
    if format == Format::Markdown {
        println!("| {} |", header.join(" | "));
        let rule: Vec<&str> = (0..header.len())
            .map(|i| if is_left(i) { "---" } else { "---:" })
            .collect();
        println!("|{}|", rule.join("|"));
        for row in rows {
            println!("| {} |", row.join(" | "));
        }
        return;
    }
    let width = |i: usize| {
        std::iter::once(header)
            .chain(rows.iter().map(Vec::as_slice))
            .filter_map(|r| r.get(i))
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if is_left(i) {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// One engine's table: the median µs of every policy on every sample, then the ratios:
/// flagship / reference, every module / floor, flagship / the fastest other module.
fn print_engine(title: &str, cells: &[EngineCell], format: Format) {
    if cells.is_empty() {
        return;
    }
    let engine = Engine { cells };
    let samples = engine_sample_names();
    println!("{title}:");
    let mut header = vec!["policy".to_owned()];
    header.extend(samples.iter().cloned());
    let label = |policy: &str| {
        let shown = if policy == FLAGSHIP {
            format!("{policy} (flagship)")
        } else {
            policy.to_owned()
        };
        if format == Format::Markdown {
            format!("`{shown}`")
        } else {
            shown
        }
    };
    let mut rows = Vec::new();
    for (policy, _) in engine.policies() {
        let mut row = vec![label(policy)];
        row.extend(samples.iter().map(|s| {
            let cell = cells.iter().find(|c| c.policy == policy && c.sample == *s);
            match cell {
                Some(EngineCell {
                    us,
                    spread: Some((least, most)),
                    ..
                }) => format!("{} [{}, {}]", us_text(*us), us_text(*least), us_text(*most)),
                Some(c) => us_text(c.us),
                None => "-".to_owned(),
            }
        }));
        rows.push(row);
    }
    let ratio_row = |name: String, f: &dyn Fn(&str) -> Option<f64>| {
        let mut row = vec![name];
        row.extend(samples.iter().map(|s| show(f(s), 2)));
        row
    };
    rows.push(ratio_row(format!("{FLAGSHIP} / reference"), &|s| {
        engine.flagship_over_reference(s)
    }));
    for (policy, kind) in engine.policies() {
        if kind == Kind::Module {
            rows.push(ratio_row(format!("{policy} / floor"), &|s| {
                engine.over_floor(policy, s)
            }));
        }
    }
    let mut row = vec![format!("{FLAGSHIP} / fastest other module")];
    row.extend(
        samples
            .iter()
            .map(|s| match engine.flagship_over_fastest(s) {
                Some((ratio, fastest)) => format!("{ratio:.2} ({fastest})"),
                None => "-".to_owned(),
            }),
    );
    rows.push(row);
    print_grid(format, &header, &rows);
}

/// Microseconds, to a precision that suits their size.
fn us_text(us: f64) -> String {
    if us >= 1000.0 {
        format!("{us:.0}")
    } else {
        format!("{us:.1}")
    }
}

/// One figure of the node inventory's cost.
struct NodeRow {
    case: String,
    /// Nodes listed (`None`: `nodeInventory` off, or the look-up fails).
    nodes: Option<usize>,
    listed_bytes: usize,
    decision: &'static str,
    /// Capability calls per evaluation.
    host_calls: usize,
    us: f64,
}

/// One configuration of the node inventory's measurement: the settings and what our
/// host answers.
struct NodeCase {
    case: String,
    nodes: Option<usize>,
    listed: Option<Vec<u8>>,
    settings: Value,
    capabilities: HostCapabilities,
}

const NODE_COUNTS: [usize; 3] = [1, 100, 1000];

/// `count` copies of the Windows Server 2022 node of the AKS-style fixture (one pool,
/// tainted `os=windows:NoSchedule`, build 10.0.20348), renamed, as the masked list the
/// module receives.
fn node_list(count: usize) -> Result<Value, String> {
    let path =
        workspace_root().join("tests/wapc-host/tests/fixtures/nodes/aks-two-windows-builds.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fixture: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let node = fixture["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|n| n["metadata"]["name"] == "akswin22000000")
        })
        .ok_or_else(|| format!("{}: no node akswin22000000", path.display()))?;
    let items: Vec<Value> = (0..count)
        .map(|i| {
            let mut copy = node.clone();
            copy["metadata"]["name"] = json!(format!("akswin22{i:06}"));
            copy
        })
        .collect();
    Ok(json!({"apiVersion": "v1", "kind": "NodeList", "items": items}))
}

fn node_cases(options: &Options) -> Vec<NodeCase> {
    let mut on = options.settings.clone();
    if !on.is_object() {
        on = json!({});
    }
    on["nodeInventory"] = json!(true);
    let mut cases = vec![NodeCase {
        case: "nodeInventory off".to_owned(),
        nodes: None,
        listed: None,
        settings: options.settings.clone(),
        capabilities: HostCapabilities::new(),
    }];
    for count in NODE_COUNTS {
        match node_list(count) {
            Ok(list) => {
                let bytes = serde_json::to_vec(&list).unwrap_or_default();
                cases.push(NodeCase {
                    case: format!(
                        "on, {count} Windows node{}",
                        if count == 1 { "" } else { "s" }
                    ),
                    nodes: Some(count),
                    listed: Some(bytes.clone()),
                    settings: on.clone(),
                    capabilities: HostCapabilities::new().respond_bytes(
                        "kubernetes",
                        "list_resources_all",
                        bytes,
                    ),
                });
            }
            Err(e) => eprintln!("bench: node inventory: {e}"),
        }
    }
    cases.push(NodeCase {
        case: "on, the look-up fails".to_owned(),
        nodes: None,
        listed: None,
        settings: on,
        capabilities: HostCapabilities::new().fail("kubernetes", "list_resources_all", "timeout"),
    });
    cases
}

fn flagship_path(options: &Options) -> Option<&PathBuf> {
    options.modules.iter().find(|p| {
        p.file_stem()
            .is_some_and(|s| s == FLAGSHIP.replace('-', "_").as_str())
    })
}

/// The node inventory's cost in our host: the flagship on the compliant Windows
/// Deployment, each case on its own instance, timed as the other figures (the records of
/// the host calls forgotten after each call, untimed).
fn node_inventory(
    options: &Options,
    samples: &[(String, Input)],
    cases: &[NodeCase],
) -> Vec<NodeRow> {
    let (Some(path), Some((_, input))) = (
        flagship_path(options),
        samples.iter().find(|(name, _)| name == FIXED_DEPLOYMENT),
    ) else {
        eprintln!("bench: node inventory: no flagship module or no sample");
        return Vec::new();
    };
    let module = match PolicyModule::load(path) {
        Ok(module) => module,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return Vec::new();
        }
    };
    let mut rows = Vec::new();
    for case in cases {
        let instance = match module.instance_with(case.capabilities.clone()) {
            Ok(instance) => instance,
            Err(e) => {
                eprintln!("bench: {e:#}");
                continue;
            }
        };
        let payload =
            serde_json::to_vec(&input.validation_request(&case.settings)).unwrap_or_default();
        let decision = match instance.validate_raw(&payload) {
            Ok(response) => decide(input.object(), &response).name(),
            Err(_) => "error",
        };
        let host_calls = instance.capability_calls().len();
        let us = time_instance(&instance, &payload);
        eprintln!(
            "bench: node inventory, {}: {decision}, {us:.1} µs",
            case.case
        );
        rows.push(NodeRow {
            case: case.case.clone(),
            nodes: case.nodes,
            listed_bytes: case.listed.as_ref().map_or(0, Vec::len),
            decision,
            host_calls,
            us,
        });
    }
    rows
}

/// The median µs of `validate` on `instance` with `payload`, after a warm-up, timed as
/// the other figures (the records of the host calls forgotten after each call, untimed).
fn time_instance(instance: &wapc_test_host::PolicyInstance, payload: &[u8]) -> f64 {
    for _ in 0..WARM_UP {
        let _ = instance.validate_raw(payload);
        instance.clear_records();
    }
    let mut times = Vec::new();
    let begin = Instant::now();
    while times.len() < MAX_ITERATIONS && (times.len() < MIN_ITERATIONS || begin.elapsed() < BUDGET)
    {
        let t = Instant::now();
        let _ = instance.validate_raw(payload);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        instance.clear_records();
    }
    median(&mut times).unwrap_or_default()
}

/// One measurement of the gMSA admission.
struct GmsaRow {
    module: String,
    case: &'static str,
    decision: &'static str,
    host_calls: usize,
    us: f64,
}

/// The gMSA admission's cost in our host (issue 26): windows-gmsa, and the flagship with
/// ID-3…ID-7 on, on a Windows Pod that names no credential spec, one that names
/// `webapp1` (looked up, authorized and inlined: two host calls, answered at once by our
/// host, so the figures are the module's own work, not the API server's round trips), and
/// one that brings `webapp1`'s contents (compared).
fn gmsa_lookups(options: &Options) -> Vec<GmsaRow> {
    let credspec = json!({"ActiveDirectoryConfig": {"GroupManagedServiceAccounts": [
            {"Name": "WebApp1", "Scope": "CONTOSO"}, {"Name": "WebApp1", "Scope": "contoso.com"}]},
        "CmsPlugins": ["ActiveDirectory"],
        "DomainJoinConfig": {"DnsName": "contoso.com", "DnsTreeName": "contoso.com",
            "Guid": "244818ae-87ac-4fcd-92ec-e79e5252348a", "MachineAccountName": "WebApp1",
            "NetBiosName": "CONTOSO", "Sid": "S-1-5-21-2126449477-2524075714-3094792973"}});
    let cluster = HostCapabilities::new()
        .respond(
            "kubernetes",
            "get_resource",
            json!({"apiVersion": "windows.k8s.io/v1",
            "kind": "GMSACredentialSpec", "metadata": {"name": "webapp1"}, "credspec": credspec}),
        )
        .respond("kubernetes", "can_i", json!({"allowed": true}));
    let pod = |options: Value| {
        let object = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "webapp1", "namespace": "webapps"},
            "spec": {"serviceAccountName": "webapp", "os": {"name": "windows"},
                "nodeSelector": {"kubernetes.io/os": "windows"},
                "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
                "securityContext": {"windowsOptions": options},
                "containers": [{"name": "iis",
                    "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"}]}});
        Input::from_object(object, "bench").ok()
    };
    let inlined = windows_workload_rules::facts::gmsa::go_json(&credspec);
    let cases = [
        (
            "no credential spec",
            pod(json!({"runAsUserName": "ContainerUser"})),
        ),
        (
            "names webapp1 (inlined)",
            pod(json!({"gmsaCredentialSpecName": "webapp1"})),
        ),
        (
            "brings webapp1's contents",
            pod(json!({"gmsaCredentialSpecName": "webapp1", "gmsaCredentialSpec": inlined})),
        ),
    ];
    let gmsa_on = json!({"rules": {"ID-3": "reject", "ID-4": "reject", "ID-5": "reject",
        "ID-6": "mutate", "ID-7": "reject"}});
    let mut rows = Vec::new();
    for (stem, settings) in [("windows_gmsa", json!({})), ("windows_workloads", gmsa_on)] {
        let Some(path) = options
            .modules
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == stem))
        else {
            continue;
        };
        let Ok(module) = PolicyModule::load(path) else {
            continue;
        };
        for (case, input) in &cases {
            let (Some(input), Ok(instance)) = (input, module.instance_with(cluster.clone())) else {
                continue;
            };
            let payload =
                serde_json::to_vec(&input.validation_request(&settings)).unwrap_or_default();
            let decision = match instance.validate_raw(&payload) {
                Ok(response) => decide(input.object(), &response).name(),
                Err(_) => "error",
            };
            let host_calls = instance.capability_calls().len();
            let us = time_instance(&instance, &payload);
            eprintln!("bench: gMSA, {stem}, {case}: {decision}, {us:.1} µs");
            rows.push(GmsaRow {
                module: stem.replace('_', "-"),
                case,
                decision,
                host_calls,
                us,
            });
        }
    }
    rows
}

fn print_gmsa(rows: &[GmsaRow], format: Format) {
    println!(
        "gMSA admission (issue 26): median µs per evaluation of a Windows Pod in our waPC \
         host, its kubernetes/get_resource and kubernetes/can_i answered at once (an API \
         server's round trips come on top, cached 5 s by PolicyServer)."
    );
    let header = strings(&["module", "case", "decision", "host calls", "waPC host µs"]);
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.module.clone(),
                row.case.to_owned(),
                row.decision.to_owned(),
                row.host_calls.to_string(),
                us_text(row.us),
            ]
        })
        .collect();
    print_grid_aligned(format, &header, &lines, &[2]);
}

/// The same cases in kwctl bench with replayed host-capability sessions (recorded in our
/// host). kwctl's replay answers only the first host call of a bench run, so these
/// measure the call and the fallback, not the decoding of the list.
fn kwctl_node_inventory(
    options: &Options,
    samples: &[(String, Input)],
    cases: &[NodeCase],
) -> Vec<(String, kubewarden::BenchFigures)> {
    if kubewarden::tools().is_err() {
        return Vec::new();
    }
    let (Some(path), Some((_, input))) = (
        flagship_path(options),
        samples.iter().find(|(name, _)| name == FIXED_DEPLOYMENT),
    ) else {
        return Vec::new();
    };
    let (annotated, module) = match (kubewarden::annotated(FLAGSHIP), PolicyModule::load(path)) {
        (Ok((annotated, _)), Ok(module)) => (annotated, module),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("bench: kwctl node inventory: {e:#}");
            return Vec::new();
        }
    };
    let dir = target_dir().join("kwctl-bench");
    let (warm_up, measure) = options.kwctl_seconds;
    let mut rows = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut extra: Vec<String> = Vec::new();
        if case.settings.get("nodeInventory").is_some() {
            let recorded = module
                .instance_with(case.capabilities.clone())
                .and_then(|instance| {
                    instance.validate(&input.validation_request(&case.settings))?;
                    kubewarden::replay_session(&instance.host_calls())
                });
            let session = dir.join(format!("nodes-session-{}-{i}.yml", std::process::id()));
            match recorded.and_then(|s| {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&session, s)?;
                Ok(())
            }) {
                Ok(()) => extra.extend([
                    "--allow-context-aware".to_owned(),
                    "--replay-host-capabilities-interactions".to_owned(),
                    session.display().to_string(),
                ]),
                Err(e) => {
                    eprintln!("bench: kwctl node inventory, {}: {e:#}", case.case);
                    continue;
                }
            }
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        match kubewarden::kwctl_bench_with(
            &annotated,
            &input.request,
            &case.settings,
            warm_up,
            measure,
            &extra,
        ) {
            Ok(figures) => {
                eprintln!(
                    "bench: kwctl bench, node inventory, {}: median {:.1} µs",
                    case.case, figures.median_us
                );
                rows.push((case.case.clone(), figures));
            }
            Err(e) => eprintln!("bench: kwctl bench, node inventory, {}: {e:#}", case.case),
        }
    }
    rows
}

fn print_nodes(
    rows: &[NodeRow],
    kwctl_rows: &[(String, kubewarden::BenchFigures)],
    format: Format,
) {
    let off = rows
        .iter()
        .find(|r| r.nodes.is_none() && r.host_calls == 0)
        .map(|r| r.us);
    let kwctl_off = kwctl_rows.first().map(|(_, f)| f.median_us);
    println!(
        "Node inventory (issue 14): {FLAGSHIP} on the {FIXED_DEPLOYMENT}, median µs per \
         evaluation and extra µs against nodeInventory off. Our waPC host answers \
         kubernetes/list_resources_all with the nodes at every call. kwctl bench replays a \
         recorded session, and ONLY THE FIRST host call of a bench run is answered from it: \
         its figures measure a host call and the fallback, not the decoding of the list."
    );
    let header = strings(&[
        "case",
        "listed bytes",
        "decision",
        "host calls",
        "waPC host µs",
        "extra µs",
        "kwctl bench (replay, first call only) µs",
        "extra µs",
    ]);
    let kwctl_of = |case: &str| {
        kwctl_rows
            .iter()
            .find(|(c, _)| c == case)
            .map(|(_, f)| f.median_us)
    };
    let mut lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let kwctl = kwctl_of(&row.case);
            vec![
                row.case.clone(),
                row.listed_bytes.to_string(),
                row.decision.to_owned(),
                row.host_calls.to_string(),
                us_text(row.us),
                show(off.map(|off| row.us - off), 1),
                show(kwctl, 1),
                show(kwctl.zip(kwctl_off).map(|(k, off)| k - off), 1),
            ]
        })
        .collect();
    if rows.is_empty() {
        lines = kwctl_rows
            .iter()
            .map(|(case, figures)| {
                let mut line = vec![case.clone()];
                line.extend(std::iter::repeat_n("-".to_owned(), 5));
                line.push(us_text(figures.median_us));
                line.push(show(kwctl_off.map(|off| figures.median_us - off), 1));
                line
            })
            .collect();
    }
    print_grid_aligned(format, &header, &lines, &[2]);
    let per_node = rows
        .iter()
        .filter_map(|r| Some((r.nodes?, r.us)))
        .collect::<Vec<_>>();
    if let (Some((n1, t1)), Some((n2, t2))) = (per_node.first(), per_node.last())
        && n2 > n1
    {
        println!(
            "{:.2} µs per listed node in our host ({n1} to {n2} nodes)",
            (t2 - t1) / (*n2 - *n1) as f64
        );
    }
}

/// A performance target and what was measured against it.
struct Target {
    what: String,
    engine: &'static str,
    measured: Option<f64>,
    /// Shown after the figure (which module, which sample).
    detail: String,
    limit: f64,
    /// Below the limit is good (ratios, sizes), or at most.
    limit_text: String,
}

impl Target {
    fn status(&self) -> &'static str {
        match self.measured {
            Some(v) if v <= self.limit => "MET",
            Some(_) => "NOT MET",
            None => "not measured",
        }
    }
}

const KWCTL_ENGINE: &str = "kwctl bench";
const OUR_ENGINE: &str = "waPC host";

fn targets(
    rows: &[Row],
    ours: &[EngineCell],
    theirs: &[EngineCell],
    time: bool,
    kwctl: bool,
) -> Vec<Target> {
    let ours = Engine { cells: ours };
    let theirs = Engine { cells: theirs };
    let mut targets = Vec::new();
    let ratio = |what: String, engine, measured: Option<f64>, limit: f64| Target {
        what,
        engine,
        measured,
        detail: String::new(),
        limit,
        limit_text: format!("≤ {limit:.2}"),
    };
    if kwctl {
        targets.push(ratio(
            format!("{FLAGSHIP} / reference, {FIXED_DEPLOYMENT}"),
            KWCTL_ENGINE,
            theirs.flagship_over_reference(FIXED_DEPLOYMENT),
            0.75,
        ));
        for sample in [LINUX_DEPLOYMENT.to_owned(), pods(100)] {
            targets.push(ratio(
                format!("{FLAGSHIP} / reference, {sample}"),
                KWCTL_ENGINE,
                theirs.flagship_over_reference(&sample),
                1.0,
            ));
        }
        for sample in engine_sample_names() {
            targets.push(ratio(
                format!("{FLAGSHIP} / floor, {sample}"),
                KWCTL_ENGINE,
                theirs.over_floor(FLAGSHIP, &sample),
                2.0,
            ));
        }
    }
    for (engine, figures, measured) in [(KWCTL_ENGINE, &theirs, kwctl), (OUR_ENGINE, &ours, time)] {
        if !measured {
            continue;
        }
        for sample in [LINUX_DEPLOYMENT, FIXED_DEPLOYMENT] {
            let found = figures.flagship_over_fastest(sample);
            let mut target = ratio(
                format!("{FLAGSHIP} / fastest other module, {sample}"),
                engine,
                found.map(|(r, _)| r),
                1.5,
            );
            target.detail = found.map_or_else(String::new, |(_, m)| m.to_owned());
            targets.push(target);
        }
    }
    if !time {
        return targets;
    }
    let shipped = || rows.iter().filter(|r| r.kind == Kind::Module);
    let largest = shipped().max_by_key(|r| r.size);
    targets.push(Target {
        what: "largest shipped module, bytes".to_owned(),
        engine: "size",
        measured: largest.map(|r| r.size as f64),
        detail: largest.map_or_else(String::new, |r| r.module.clone()),
        limit: 1024.0 * 1024.0 - 1.0,
        limit_text: "< 1 MiB".to_owned(),
    });
    let worst = shipped()
        .filter_map(|r| r.ratio().map(|x| (x, r)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    targets.push(Target {
        what: "largest wasm / native ratio".to_owned(),
        engine: OUR_ENGINE,
        measured: worst.map(|(x, _)| x),
        detail: worst.map_or_else(String::new, |(_, r)| {
            format!("{} on {}", r.module, r.sample)
        }),
        limit: 3.0,
        limit_text: "≤ 3".to_owned(),
    });
    // Linear growth: a container added from 10 to 100 costs no more than one added from 1
    // to 10 (within 25 %, the noise of these figures).
    let mut modules: Vec<&str> = shipped().map(|r| r.module.as_str()).collect();
    modules.dedup();
    let growth = modules
        .iter()
        .filter_map(|m| {
            let at = |n| find(rows, m, &pods(n)).map(|r| r.wasm_us);
            let (t1, t10, t100) = (at(1)?, at(10)?, at(100)?);
            Some((((t100 - t10) / 90.0) / ((t10 - t1) / 9.0), *m))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    targets.push(Target {
        what: "linear growth: µs per container 10→100 / 1→10, largest".to_owned(),
        engine: OUR_ENGINE,
        measured: growth.map(|(g, _)| g),
        detail: growth.map_or_else(String::new, |(_, m)| m.to_owned()),
        limit: 1.25,
        limit_text: "≤ 1.25".to_owned(),
    });
    targets
}

fn print_targets(targets: &[Target], format: Format) {
    println!("Targets:");
    let header = strings(&["target", "engine", "measured", "limit", "status"]);
    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|t| {
            let measured = match t.measured {
                Some(v) if v >= 1000.0 => format!("{v:.0}"),
                Some(v) => format!("{v:.2}"),
                None => "-".to_owned(),
            };
            let measured = if t.detail.is_empty() {
                measured
            } else {
                format!("{measured} ({})", t.detail)
            };
            let status = if format == Format::Markdown && t.status() != "not measured" {
                format!("**{}**", t.status())
            } else {
                t.status().to_owned()
            };
            vec![
                t.what.clone(),
                t.engine.to_owned(),
                measured,
                t.limit_text.clone(),
                status,
            ]
        })
        .collect();
    print_grid_aligned(format, &header, &rows, &[1, 4]);
}

/// What [`peak_memory`] found.
struct Peak {
    /// The module's initial linear memory, in bytes.
    initial: usize,
    /// The least memory limit under which the call answers, in bytes (whole pages).
    peak: usize,
    /// Fresh instances it took.
    probes: usize,
}

struct MemoryRow {
    module: String,
    sample: String,
    payload_bytes: usize,
    peak: Peak,
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The peak linear memory of one `validate` call with `payload`: the least limit, in
/// whole pages, under which a fresh instance answers it, found by bisection between the
/// module's initial memory (below it there is no instance) and the host's default limit
/// (under which it must answer). wasm memory never shrinks, so this is the size the
/// memory reaches in the call; a call needing more traps on its failed allocation.
fn peak_memory(module: &PolicyModule, payload: &[u8]) -> Result<Peak, String> {
    let mut probes = 0;
    let mut answers = |pages: usize| {
        probes += 1;
        module
            .with_memory_limit(pages * WASM_PAGE_SIZE)
            .instance()
            .and_then(|instance| instance.call("validate", payload))
            .is_ok()
    };
    let initial = module
        .initial_memory()
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or("the module exports no memory")?;
    let initial_pages = initial.div_ceil(WASM_PAGE_SIZE);
    let default_pages = DEFAULT_MEMORY_LIMIT / WASM_PAGE_SIZE;
    if !answers(default_pages) {
        return Err(format!(
            "no answer under the default limit ({:.0} MiB)",
            mib(DEFAULT_MEMORY_LIMIT)
        ));
    }
    // Invariant: `low` pages are too few, `high` pages enough.
    let (mut low, mut high) = (initial_pages, default_pages);
    if answers(initial_pages) {
        high = initial_pages;
    }
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if answers(middle) {
            high = middle;
        } else {
            low = middle;
        }
    }
    Ok(Peak {
        initial,
        peak: high * WASM_PAGE_SIZE,
        probes,
    })
}

/// One line per module: its initial memory, then the peak of each sample, in MiB.
fn print_memory(rows: &[MemoryRow], format: Format) {
    let mut modules: Vec<&str> = rows.iter().map(|r| r.module.as_str()).collect();
    modules.dedup();
    let mut samples: Vec<(&str, usize)> = Vec::new();
    for r in rows {
        if !samples.iter().any(|(s, _)| *s == r.sample) {
            samples.push((&r.sample, r.payload_bytes));
        }
    }
    let initial = |module: &str| {
        rows.iter()
            .find(|r| r.module == module)
            .map_or(0.0, |r| mib(r.peak.initial))
    };
    let peak = |module: &str, sample: &str| {
        rows.iter()
            .find(|r| r.module == module && r.sample == sample)
            .map_or_else(|| "-".to_owned(), |r| format!("{:.2}", mib(r.peak.peak)))
    };
    println!(
        "Peak linear memory of one validate call on a fresh instance, MiB (initial memory \
         included; least passing limit in 64 KiB pages; host default limit {:.0} MiB):",
        mib(DEFAULT_MEMORY_LIMIT)
    );
    if format == Format::Markdown {
        println!(
            "| module | initial | {} |",
            samples
                .iter()
                .map(|(s, bytes)| format!("{s} ({bytes} B)"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        println!("|---|---:|{}", "---:|".repeat(samples.len()));
        for module in &modules {
            let cells: Vec<String> = samples.iter().map(|(s, _)| peak(module, s)).collect();
            println!(
                "| `{module}` | {:.2} | {} |",
                initial(module),
                cells.join(" | ")
            );
        }
    } else {
        println!(
            "{:<30} {:>8} {}",
            "module",
            "initial",
            samples
                .iter()
                .map(|(s, _)| format!("{:>12}", short(s)))
                .collect::<String>()
        );
        println!(
            "{:<30} {:>8} {}",
            "(request bytes)",
            "",
            samples
                .iter()
                .map(|(_, bytes)| format!("{bytes:>12}"))
                .collect::<String>()
        );
        for module in &modules {
            println!(
                "{module:<30} {:>8.2} {}",
                initial(module),
                samples
                    .iter()
                    .map(|(s, _)| format!("{:>12}", peak(module, s)))
                    .collect::<String>()
            );
        }
    }
    if let Some(r) = rows.iter().max_by_key(|r| r.peak.peak) {
        println!();
        println!(
            "Largest peak: {:.2} MiB ({} on {}, a {}-byte request: {:.0} bytes of memory per \
             request byte beyond the initial memory); the host's default limit is {:.0} MiB, \
             {:.1} times as much",
            mib(r.peak.peak),
            r.module,
            r.sample,
            r.payload_bytes,
            r.peak.peak.saturating_sub(r.peak.initial) as f64 / r.payload_bytes.max(1) as f64,
            mib(DEFAULT_MEMORY_LIMIT),
            DEFAULT_MEMORY_LIMIT as f64 / r.peak.peak as f64
        );
    }
}

/// Column titles of the plain memory table.
fn short(sample: &str) -> String {
    match sample {
        SMALL => "small pod".to_owned(),
        LINUX_DEPLOYMENT => "deploy lin".to_owned(),
        WINDOWS_DEPLOYMENT => "deploy win".to_owned(),
        HOSTILE_CONTAINERS => "10k priv.".to_owned(),
        HOSTILE_5_MIB => "5 MiB req.".to_owned(),
        API_SERVER_LIMIT => "28k priv.".to_owned(),
        other => other.replace("windows pod ", "pod "),
    }
}

/// Everything `--json` prints.
struct JsonReport<'a> {
    time: Option<&'a [Row]>,
    memory: Option<&'a [MemoryRow]>,
    kwctl: Option<&'a [KwctlRow]>,
    nodes: Option<&'a [NodeRow]>,
    kwctl_nodes: Option<&'a [(String, kubewarden::BenchFigures)]>,
    targets: &'a [Target],
}

fn print_json(report: &JsonReport) {
    let mut out = serde_json::Map::new();
    if let Some(rows) = report.kwctl {
        let rows = rows
            .iter()
            .map(|r| {
                json!({"policy": r.policy, "kind": r.kind.name(), "sample": r.sample,
                    "median_us": r.median_us(),
                    "runs": r.runs.iter().map(|f| json!({"median_us": f.median_us, "mean_us": f.mean_us})).collect::<Vec<_>>()})
            })
            .collect();
        out.insert("kwctl_bench".to_owned(), Value::Array(rows));
    }
    if let Some(rows) = report.time {
        out.insert("time".to_owned(), Value::Array(time_json(rows)));
    }
    if let Some(rows) = report.memory {
        let rows = rows
            .iter()
            .map(|r| {
                json!({
                    "module": r.module, "sample": r.sample, "payload_bytes": r.payload_bytes,
                    "initial_memory_bytes": r.peak.initial, "peak_memory_bytes": r.peak.peak,
                    "probes": r.peak.probes,
                })
            })
            .collect();
        out.insert("memory".to_owned(), Value::Array(rows));
    }
    if let Some(rows) = report.nodes {
        let rows = rows
            .iter()
            .map(|r| {
                json!({"case": r.case, "nodes": r.nodes, "listed_bytes": r.listed_bytes,
                    "decision": r.decision, "host_calls": r.host_calls, "median_us": r.us})
            })
            .collect();
        out.insert("node_inventory".to_owned(), Value::Array(rows));
    }
    if let Some(rows) = report.kwctl_nodes {
        let rows = rows
            .iter()
            .map(|(case, f)| {
                json!({"case": case, "median_us": f.median_us, "mean_us": f.mean_us,
                "note": "replayed session: only the first host call of the run is answered"})
            })
            .collect();
        out.insert("kwctl_node_inventory".to_owned(), Value::Array(rows));
    }
    let targets = report
        .targets
        .iter()
        .map(|t| {
            json!({"target": t.what, "engine": t.engine, "measured": t.measured,
                "detail": t.detail, "limit": t.limit_text, "status": t.status()})
        })
        .collect();
    out.insert("targets".to_owned(), Value::Array(targets));
    println!(
        "{}",
        serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default()
    );
}

fn time_json(rows: &[Row]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            json!({
                "module": r.module, "policy": r.policy, "kind": r.kind.name(),
                "rules": r.rules, "size_bytes": r.size, "sample": r.sample,
                "payload_bytes": r.payload_bytes, "decision": r.decision,
                "iterations": r.iterations, "wasm_median_us": r.wasm_us,
                "native_median_us": r.native_us, "ratio": r.ratio(),
            })
        })
        .collect()
}

fn show(value: Option<f64>, precision: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.precision$}"))
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<30} {:>9} {:<20} {:<9} {:>6} {:>11} {:>11} {:>6}",
        "module", "bytes", "sample", "decision", "iters", "wasm µs", "native µs", "ratio"
    );
    for r in rows {
        println!(
            "{:<30} {:>9} {:<20} {:<9} {:>6} {:>11.1} {:>11} {:>6}",
            r.module,
            r.size,
            r.sample,
            r.decision,
            r.iterations,
            r.wasm_us,
            show(r.native_us, 1),
            show(r.ratio(), 2)
        );
    }
}

fn find<'a>(rows: &'a [Row], module: &str, sample: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.module == module && r.sample == sample)
}

/// One line per module: size, then wasm / native / ratio on the small pod, the two
/// deployments and the 100-container pod.
fn print_markdown(rows: &[Row]) {
    let mut modules: Vec<&str> = rows.iter().map(|r| r.module.as_str()).collect();
    modules.dedup();
    let columns = [
        SMALL,
        LINUX_DEPLOYMENT,
        WINDOWS_DEPLOYMENT,
        FIXED_DEPLOYMENT,
        &pods(100),
    ];
    println!(
        "| module | rules | size (bytes) | {} |",
        columns
            .iter()
            .map(|c| format!("{c}: wasm / native µs (ratio)"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---:|---:|{}", "---:|".repeat(columns.len()));
    for module in modules {
        let first = rows.iter().find(|r| r.module == module);
        let cells: Vec<String> = columns
            .iter()
            .map(|sample| match find(rows, module, sample) {
                Some(r) => format!(
                    "{:.1} / {} ({})",
                    r.wasm_us,
                    show(r.native_us, 1),
                    show(r.ratio(), 2)
                ),
                None => "-".to_owned(),
            })
            .collect();
        println!(
            "| `{module}` | {} | {} | {} |",
            first
                .and_then(|r| r.rules)
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            first.map_or(0, |r| r.size),
            cells.join(" | ")
        );
    }
}

/// The figures the performance targets are about.
fn print_summaries(rows: &[Row], format: Format) {
    if format == Format::Json {
        return;
    }
    let mut modules: Vec<&str> = rows.iter().map(|r| r.module.as_str()).collect();
    modules.dedup();
    println!();
    println!("Growth with the number of containers (wasm median µs; per added container):");
    println!(
        "| module | 1 container | 10 containers | 100 containers | µs per container (10→100) | t(100) / t(10) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for module in &modules {
        let at = |n| find(rows, module, &pods(n)).map(|r| r.wasm_us);
        if let (Some(t1), Some(t10), Some(t100)) = (at(1), at(10), at(100)) {
            println!(
                "| `{module}` | {t1:.1} | {t10:.1} | {t100:.1} | {:.2} | {:.2} |",
                (t100 - t10) / 90.0,
                t100 / t10
            );
        }
    }

    println!();
    println!("UPDATE next to CREATE (wasm median µs; the request carries the old object too):");
    println!(
        "| module | {WINDOWS_DEPLOYMENT} | {UPDATED_DEPLOYMENT} | {RELABELLED_DEPLOYMENT} | {} | {UPDATED_POD} |",
        pods(10)
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for module in &modules {
        let at = |sample: &str| {
            find(rows, module, sample)
                .map_or_else(|| "-".to_owned(), |r| format!("{:.1}", r.wasm_us))
        };
        println!(
            "| `{module}` | {} | {} | {} | {} | {} |",
            at(WINDOWS_DEPLOYMENT),
            at(UPDATED_DEPLOYMENT),
            at(RELABELLED_DEPLOYMENT),
            at(&pods(10)),
            at(UPDATED_POD)
        );
    }

    // The targets these are about are in the targets block (print_targets), MET or NOT MET.
    let shipped = || rows.iter().filter(|r| r.kind == Kind::Module);
    let largest_ratio = shipped()
        .filter_map(|r| r.ratio().map(|x| (x, r)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((ratio, r)) = largest_ratio {
        println!();
        println!(
            "Largest wasm / native ratio: {ratio:.2} ({} on {}; target: at most 3)",
            r.module, r.sample
        );
    }
    let largest_module = shipped().max_by_key(|r| r.size);
    if let Some(r) = largest_module {
        println!(
            "Largest module: {} bytes ({}; target: under 1 MiB = 1048576 bytes)",
            r.size, r.module
        );
    }
}
