//! Evaluation latency of the built policy modules in the native waPC host.
//!
//! `cargo bench -p wapc-test-host [-- [--json] [--settings FILE] [MODULE.wasm...]]`
//!
//! Modules: the paths given, else `BENCH_MODULES` (paths separated by `:`),
//! else every `target/wasm32-wasip1/release/*.wasm`. Each module is compiled
//! once and one instance is reused; for each sample input `validate` runs a
//! warm-up, then timed iterations (about 0.4 s per sample, 20 to 2000
//! iterations). Reports median, p90 and mean in microseconds, and the module
//! size, as a table on stdout (`--json`: one JSON array instead).

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wapc_test_host::{Input, PolicyModule, decide, load_inputs, release_dir, workspace_root};

const WARM_UP: usize = 10;
const MIN_ITERATIONS: usize = 20;
const MAX_ITERATIONS: usize = 2000;
const BUDGET: Duration = Duration::from_millis(400);

struct Options {
    json: bool,
    settings: Value,
    modules: Vec<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut json = false;
    let mut settings = json!({});
    let mut modules = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
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
                return Err("usage: cargo bench -p wapc-test-host -- [--json] [--settings FILE] [MODULE.wasm...]".into());
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
        && let Ok(entries) = std::fs::read_dir(release_dir())
    {
        modules = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        modules.sort();
    }
    Ok(Options {
        json,
        settings,
        modules,
    })
}

fn container(i: usize) -> Value {
    json!({
        "name": format!("app-{i}"),
        "image": "mcr.microsoft.com/windows/servercore:ltsc2022",
        "ports": [{"containerPort": 8080 + i, "protocol": "TCP"}],
        "env": [{"name": "INDEX", "value": i.to_string()}],
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "500m", "memory": "1Gi"}
        },
        "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}
    })
}

fn windows_pod(containers: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("windows-pod-{containers}"), "namespace": "bench", "labels": {"app": "bench"}},
        "spec": {
            "os": {"name": "windows"},
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
            "containers": (0..containers).map(container).collect::<Vec<_>>()
        }
    })
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
        samples.push(("small pod".to_owned(), input));
    }
    let corpus = workspace_root().join(
        "../shared/corpus/kubernetes__kube-state-metrics/examples__standard__deployment.yaml",
    );
    match load_inputs(&corpus) {
        Ok(mut inputs) if !inputs.is_empty() => {
            samples.push(("ksm deployment".to_owned(), inputs.remove(0)));
        }
        Ok(_) => eprintln!("bench: no object in {}: sample skipped", corpus.display()),
        Err(e) => eprintln!("bench: {e:#}: sample skipped"),
    }
    for n in [1, 10, 100] {
        if let Ok(input) = Input::from_object(windows_pod(n), &format!("windows-pod-{n}")) {
            samples.push((format!("windows pod x{n}"), input));
        }
    }
    samples
}

struct Stats {
    iterations: usize,
    median_us: f64,
    p90_us: f64,
    mean_us: f64,
}

fn stats(mut times: Vec<Duration>) -> Stats {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let n = times.len();
    let at = |q: f64| {
        let rank = ((n as f64) * q).ceil() as usize;
        us(times[rank.clamp(1, n) - 1])
    };
    Stats {
        iterations: n,
        median_us: at(0.5),
        p90_us: at(0.9),
        mean_us: times.iter().map(|d| us(*d)).sum::<f64>() / n as f64,
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
    let mut rows = Vec::new();
    if !options.json {
        println!(
            "{:<28} {:>10} {:<18} {:<9} {:>6} {:>11} {:>11} {:>11}",
            "module", "bytes", "sample", "decision", "iters", "median µs", "p90 µs", "mean µs"
        );
    }
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
        if !options.json {
            eprintln!("{}: compiled in {compile_ms:.0} ms", module.name());
        }
        for (sample, input) in &samples {
            let request = input.validation_request(&options.settings);
            let payload = serde_json::to_vec(&request).unwrap_or_default();
            let decision = match instance.validate_raw(&payload) {
                Ok(response) => decide(input.object(), &response).name(),
                Err(_) => "error",
            };
            for _ in 0..WARM_UP {
                let _ = instance.validate_raw(&payload);
            }
            let mut times = Vec::new();
            let begin = Instant::now();
            while times.len() < MAX_ITERATIONS
                && (times.len() < MIN_ITERATIONS || begin.elapsed() < BUDGET)
            {
                let t = Instant::now();
                let _ = instance.validate_raw(&payload);
                times.push(t.elapsed());
            }
            let s = stats(times);
            if options.json {
                rows.push(json!({
                    "module": module.name(),
                    "path": path.display().to_string(),
                    "size_bytes": module.size_bytes(),
                    "compile_ms": compile_ms,
                    "sample": sample,
                    "payload_bytes": payload.len(),
                    "decision": decision,
                    "iterations": s.iterations,
                    "median_us": s.median_us,
                    "p90_us": s.p90_us,
                    "mean_us": s.mean_us,
                }));
            } else {
                println!(
                    "{:<28} {:>10} {:<18} {:<9} {:>6} {:>11.1} {:>11.1} {:>11.1}",
                    module.name(),
                    module.size_bytes(),
                    sample,
                    decision,
                    s.iterations,
                    s.median_us,
                    s.p90_us,
                    s.mean_us
                );
            }
        }
    }
    if options.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(rows)).unwrap_or_default()
        );
    }
}
