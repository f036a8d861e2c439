//! Evaluation time, peak memory and size of the policy modules: in the native waPC host
//! (wasmtime, each module compiled once and one instance reused, as PolicyServer does)
//! and natively in the rule crate (`windows_workload_rules::wapc::policy::validate`, the
//! function the module's `validate` entry point calls, on the same request bytes).
//!
//! `make bench`, or `cargo bench -p wapc-test-host [-- [--time|--memory] [--json|--markdown] [--settings FILE] [MODULE.wasm...]]`
//! (`--time`: evaluation time only; `--memory`: peak memory only; both by default)
//!
//! Modules: the paths given, else `BENCH_MODULES` (paths separated by `:`), else every
//! `*.wasm` in `WASM_MODULES_DIR` (what `make bench` sets: the shipped modules), else in
//! `target/wasm32-wasip1/release/`. A module's native twin is the rule crate's module of
//! the same name. Samples: a small Pod, two typical Deployments of the corpus (a Linux
//! one, kube-state-metrics, and a Windows one, also as the OS placement rules leave it),
//! and Windows pods of 1, 10 and 100 containers; and as UPDATEs, the Windows Deployment
//! with a new image and with a new label, and the 10-container pod with a new image. For each, `validate` runs a warm-up, then timed iterations (about 0.4 s,
//! 20 to 5000 iterations); the table gives medians in microseconds and the ratio
//! wasm / native, then the summaries the performance targets are about.
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
    LINUX_DEPLOYMENT, WINDOWS_DEPLOYMENT, deployment, pods, windows_pod,
};
use wapc_test_host::{
    DEFAULT_MEMORY_LIMIT, Input, MODULES_DIR_ENV, PolicyModule, WASM_PAGE_SIZE, decide, release_dir,
};
use windows_workload_rules::engine::module::Module;
use windows_workload_rules::facts::host::NoHostCalls;
use windows_workload_rules::modules::MODULES;

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
    /// `kwctl bench` of every module and of the reference policy.
    kwctl: bool,
    settings: Value,
    modules: Vec<PathBuf>,
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
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => format = Format::Json,
            "--markdown" => format = Format::Markdown,
            "--time" => (time, memory, kwctl) = (true, false, false),
            "--memory" => (time, memory, kwctl) = (false, true, false),
            "--kwctl" => (time, memory, kwctl) = (false, false, true),
            "--no-kwctl" => kwctl = false,
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
                return Err("usage: cargo bench -p wapc-test-host -- [--time|--memory|--kwctl] [--no-kwctl] [--json|--markdown] [--settings FILE] [MODULE.wasm...]".into());
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
    Ok(Options {
        format,
        time,
        memory,
        kwctl,
        settings,
        modules,
    })
}

const SMALL: &str = "small pod";
const FIXED_DEPLOYMENT: &str = "deployment (windows, fixed)";
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
                    as_update(&input, new_image, &old),
                ));
                let mut relabelled = old.clone();
                relabelled["metadata"]["labels"] = json!({"release": "2"});
                samples.push((
                    RELABELLED_DEPLOYMENT.to_owned(),
                    as_update(&input, relabelled, &old),
                ));
                // The same Deployment as the OS placement rules leave it (os.name and the
                // Windows toleration added): no module needs to mutate it.
                let mut fixed = input.object().clone();
                let spec = &mut fixed["spec"]["template"]["spec"];
                spec["os"] = json!({"name": "windows"});
                spec["tolerations"] = json!([{"key": "os", "operator": "Equal",
                    "value": "windows", "effect": "NoSchedule"}]);
                if let Ok(fixed) = Input::from_object(fixed, "fixed-windows-deployment") {
                    samples.push((name.to_owned(), input));
                    samples.push((FIXED_DEPLOYMENT.to_owned(), fixed));
                    continue;
                }
            }
            samples.push((name.to_owned(), input));
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
                samples.push((UPDATED_POD.to_owned(), as_update(&input, new, &old)));
            }
            samples.push((pods(n), input));
        }
    }
    samples
}

/// `input` as an UPDATE from `old` to `new`.
fn as_update(input: &Input, new: Value, old: &Value) -> Input {
    let mut update = input.clone();
    update.request["operation"] = json!("UPDATE");
    update.request["object"] = new;
    update.request["oldObject"] = old.clone();
    update
}

fn median_us(mut f: impl FnMut()) -> (usize, f64) {
    for _ in 0..WARM_UP {
        f();
    }
    let mut times = Vec::new();
    let begin = Instant::now();
    while times.len() < MAX_ITERATIONS && (times.len() < MIN_ITERATIONS || begin.elapsed() < BUDGET)
    {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[(times.len() - 1) / 2];
    (times.len(), median.as_secs_f64() * 1e6)
}

struct Row {
    module: String,
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
    let mut rows = Vec::new();
    let mut memory_rows = Vec::new();
    for path in &options.modules {
        let start = Instant::now();
        let module = match PolicyModule::load(path) {
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
        match instance.validate_settings(&options.settings) {
            Ok(v) if v.valid => {}
            Ok(v) => {
                eprintln!(
                    "bench: {}: settings invalid: {}",
                    module.name(),
                    v.message.unwrap_or_default()
                );
                continue;
            }
            Err(e) => {
                eprintln!("bench: {e:#}");
                continue;
            }
        }
        let twin = native_twin(module.name());
        eprintln!(
            "bench: {} ({} bytes) compiled in {compile_ms:.0} ms{}",
            module.name(),
            module.size_bytes(),
            if twin.is_some() {
                ""
            } else {
                "; no native twin in the rule crate"
            }
        );
        for (sample, input) in samples.iter().filter(|_| options.time) {
            let request = input.validation_request(&options.settings);
            let payload = serde_json::to_vec(&request).unwrap_or_default();
            let decision = match instance.validate_raw(&payload) {
                Ok(response) => decide(input.object(), &response).name(),
                Err(_) => "error",
            };
            let (iterations, wasm_us) = median_us(|| {
                let _ = instance.validate_raw(&payload);
            });
            let native_us = twin.map(|m| {
                median_us(|| {
                    std::hint::black_box(windows_workload_rules::wapc::policy::validate(
                        m,
                        &NoHostCalls,
                        std::hint::black_box(&payload),
                    ));
                })
                .1
            });
            rows.push(Row {
                module: module.name().to_owned(),
                rules: twin.map(|m| m.rules.len()),
                size: module.size_bytes(),
                sample: sample.clone(),
                payload_bytes: payload.len(),
                decision,
                iterations,
                wasm_us,
                native_us,
            });
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
    let kwctl_rows = if options.kwctl {
        kwctl_bench(&options, &samples)
    } else {
        Vec::new()
    };
    match options.format {
        Format::Json => print_json(
            options.time.then_some(&rows),
            options.memory.then_some(&memory_rows),
            options.kwctl.then_some(&kwctl_rows),
        ),
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
    if options.memory && options.format != Format::Json {
        if options.time {
            println!();
        }
        print_memory(&memory_rows, options.format);
    }
    if options.kwctl && options.format != Format::Json && !kwctl_rows.is_empty() {
        if options.time || options.memory {
            println!();
        }
        print_kwctl(&kwctl_rows, options.format);
    }
}

/// The samples `kwctl bench` runs: the typical Deployments and the largest pod.
fn kwctl_samples() -> [String; 3] {
    [
        LINUX_DEPLOYMENT.to_owned(),
        WINDOWS_DEPLOYMENT.to_owned(),
        pods(100),
    ]
}

/// The name the reference policy is shown under.
const REFERENCE: &str = "pod-privileged-policy 1.0.13 (reference)";

/// The flagship, the one the performance targets compare with the reference.
const FLAGSHIP: &str = "windows-workloads";

struct KwctlRow {
    policy: String,
    sample: String,
    figures: kubewarden::BenchFigures,
}

/// `kwctl bench` (Kubewarden's own engine: policy-evaluator, wasmtime) of every module,
/// annotated with its metadata, and of the reference policy of Kubewarden's monorepo,
/// on the same requests, one after the other in this run.
fn kwctl_bench(options: &Options, samples: &[(String, Input)]) -> Vec<KwctlRow> {
    if let Err(e) = kubewarden::tools() {
        eprintln!("bench: NOT RUN: kwctl bench, Kubewarden's engine is missing: {e:#}");
        return Vec::new();
    }
    let mut policies: Vec<(String, PathBuf, Value)> = Vec::new();
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
            Ok((annotated, _)) => {
                policies.push((module.name.to_owned(), annotated, options.settings.clone()))
            }
            Err(e) => eprintln!("bench: kwctl annotate {}: {e:#}", module.name),
        }
    }
    match kubewarden::reference_policy() {
        Ok(reference) => policies.push((REFERENCE.to_owned(), reference, json!({}))),
        Err(e) => eprintln!("bench: kwctl bench: {e:#}"),
    }
    let mut rows = Vec::new();
    for (policy, path, settings) in &policies {
        for sample in kwctl_samples() {
            let Some((_, input)) = samples.iter().find(|(name, _)| *name == sample) else {
                continue;
            };
            match kubewarden::kwctl_bench(path, &input.request, settings, 1, 3) {
                Ok(figures) => {
                    eprintln!(
                        "bench: kwctl bench {policy}: {sample}: median {:.1} µs",
                        figures.median_us
                    );
                    rows.push(KwctlRow {
                        policy: policy.clone(),
                        sample,
                        figures,
                    });
                }
                Err(e) => eprintln!("bench: kwctl bench {policy}: {sample}: {e:#}"),
            }
        }
    }
    rows
}

/// One line per policy: kwctl bench's median (mean) µs of `validate` on each sample,
/// then the flagship's medians over the reference's.
fn print_kwctl(rows: &[KwctlRow], format: Format) {
    let mut policies: Vec<&str> = rows.iter().map(|r| r.policy.as_str()).collect();
    policies.dedup();
    let samples = kwctl_samples();
    let cell = |policy: &str, sample: &str| {
        rows.iter()
            .find(|r| r.policy == policy && r.sample == sample)
            .map(|r| r.figures)
    };
    let ratio =
        |sample: &str| Some(cell(FLAGSHIP, sample)?.median_us / cell(REFERENCE, sample)?.median_us);
    let header: Vec<String> = samples
        .iter()
        .map(|s| format!("{s}: median (mean) µs"))
        .collect();
    if format == Format::Markdown {
        println!("| kwctl bench | {} |", header.join(" | "));
        println!("|---|{}", "---:|".repeat(samples.len()));
    } else {
        println!("kwctl bench, validate: median (mean) µs");
        println!(
            "{:<42} {}",
            "policy",
            header
                .iter()
                .map(|h| format!(" {h:>38}"))
                .collect::<String>()
        );
    }
    for policy in policies {
        let cells: Vec<String> = samples
            .iter()
            .map(|s| match cell(policy, s) {
                Some(f) => format!("{:.1} ({:.1})", f.median_us, f.mean_us),
                None => "-".to_owned(),
            })
            .collect();
        if format == Format::Markdown {
            println!("| `{policy}` | {} |", cells.join(" | "));
        } else {
            println!(
                "{policy:<42} {}",
                cells
                    .iter()
                    .map(|c| format!(" {c:>38}"))
                    .collect::<String>()
            );
        }
    }
    let ratios: Vec<String> = samples.iter().map(|s| show(ratio(s), 2)).collect();
    if format == Format::Markdown {
        println!(
            "| {FLAGSHIP} / reference (medians) | {} |",
            ratios.join(" | ")
        );
    } else {
        println!(
            "{:<42} {}",
            format!("{FLAGSHIP} / reference (medians)"),
            ratios
                .iter()
                .map(|c| format!(" {c:>38}"))
                .collect::<String>()
        );
    }
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

fn print_json(time: Option<&[Row]>, memory: Option<&[MemoryRow]>, kwctl: Option<&[KwctlRow]>) {
    let mut out = serde_json::Map::new();
    if let Some(rows) = kwctl {
        let rows = rows
            .iter()
            .map(|r| {
                json!({"policy": r.policy, "sample": r.sample,
                    "median_us": r.figures.median_us, "mean_us": r.figures.mean_us})
            })
            .collect();
        out.insert("kwctl_bench".to_owned(), Value::Array(rows));
    }
    if let Some(rows) = time {
        out.insert("time".to_owned(), Value::Array(time_json(rows)));
    }
    if let Some(rows) = memory {
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
    println!(
        "{}",
        serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default()
    );
}

fn time_json(rows: &[Row]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            json!({
                "module": r.module, "rules": r.rules, "size_bytes": r.size, "sample": r.sample,
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

    let largest_ratio = rows
        .iter()
        .filter_map(|r| r.ratio().map(|x| (x, r)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((ratio, r)) = largest_ratio {
        println!();
        println!(
            "Largest wasm / native ratio: {ratio:.2} ({} on {}; target: at most 3)",
            r.module, r.sample
        );
    }
    let largest_module = rows.iter().max_by_key(|r| r.size);
    if let Some(r) = largest_module {
        println!(
            "Largest module: {} bytes ({}; target: under 1 MiB = 1048576 bytes)",
            r.size, r.module
        );
    }

    // The flagship carries the most rules; the smallest single module the fewest (of the
    // modules that review workloads: the RuntimeClass module leaves them untouched).
    let with_rules: Vec<(&str, usize)> = modules
        .iter()
        .filter(|m| native_twin(m).is_some_and(Module::has_workload_rules))
        .filter_map(|m| {
            rows.iter()
                .find(|r| r.module == *m)
                .and_then(|r| r.rules)
                .map(|n| (*m, n))
        })
        .collect();
    let flagship = with_rules.iter().max_by_key(|(_, n)| *n);
    let smallest = with_rules.iter().min_by_key(|(_, n)| *n);
    if let (Some((flagship, f_rules)), Some((smallest, s_rules))) = (flagship, smallest)
        && flagship != smallest
    {
        println!();
        for sample in [LINUX_DEPLOYMENT, WINDOWS_DEPLOYMENT, FIXED_DEPLOYMENT] {
            if let (Some(f), Some(s)) = (find(rows, flagship, sample), find(rows, smallest, sample))
            {
                println!(
                    "Flagship vs smallest module on the {sample}: {flagship} ({f_rules} rules) \
                     {:.1} µs / {smallest} ({s_rules} rule{}) {:.1} µs = {:.2} (target: at most 1.5)",
                    f.wasm_us,
                    if *s_rules == 1 { "" } else { "s" },
                    s.wasm_us,
                    f.wasm_us / s.wasm_us
                );
            }
        }
    }
}
