//! `policy-load` (`make load`): a bounded load run against Kubewarden's PolicyServer on
//! loopback, serving the flagship (default settings) and the reference policy of
//! Kubewarden's monorepo (`../shared/tools/pod-privileged-policy-1.0.13.wasm`) side by
//! side. For each policy and sample, concurrent clients on keep-alive connections (as
//! the API server holds its connections to a webhook) send a fixed number of
//! AdmissionReviews; the run reports p50/p90/p99/max latency, requests per second and
//! errors (a transport failure, a status other than 200, or an answer without a
//! response for the request's uid), which must be 0.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wapc_test_host::kubewarden::{self, Connection, PolicyServer, ServedPolicy, ServerOptions};
use wapc_test_host::samples;

const HELP: &str = "\
policy-load: a bounded load run of PolicyServer with the flagship and the reference policy

USAGE:
    policy-load [--requests N] [--clients C] [--workers W] [--markdown]

    N requests (default 2000) per policy and sample, from C concurrent keep-alive
    clients (default 8), to a PolicyServer with W evaluation workers (default: the
    number of cores). Samples: a Linux and a Windows Deployment of the corpus and a
    Windows pod of 100 containers. Exits non-zero when any request fails.
";

const FLAGSHIP: &str = "windows-workloads";
const REFERENCE: &str = "pod-privileged-policy";

struct Options {
    requests: usize,
    clients: usize,
    workers: usize,
    markdown: bool,
}

fn options() -> Result<Options> {
    let mut options = Options {
        requests: 2000,
        clients: 8,
        workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        markdown: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> Result<usize> {
            let value = args
                .next()
                .with_context(|| format!("{arg} needs a number"))?;
            let n: usize = value.parse().with_context(|| format!("{arg} {value}"))?;
            if n == 0 {
                bail!("{arg} must be at least 1");
            }
            Ok(n)
        };
        match arg.as_str() {
            "--requests" => options.requests = number()?,
            "--clients" => options.clients = number()?,
            "--workers" => options.workers = number()?,
            "--markdown" => options.markdown = true,
            "-h" | "--help" => bail!("{HELP}"),
            other => bail!("unknown argument {other}\n\n{HELP}"),
        }
    }
    Ok(options)
}

/// What one run of one policy on one sample measured.
struct Run {
    policy: &'static str,
    sample: String,
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    wall: Duration,
}

impl Run {
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies.len()) - 1;
        self.latencies[index].as_secs_f64() * 1e3
    }

    fn requests_per_second(&self) -> f64 {
        (self.latencies.len() + self.errors) as f64 / self.wall.as_secs_f64()
    }
}

/// Checks one answer: 200 and an AdmissionReview answering `uid`.
fn check(answer: Result<(u16, Vec<u8>)>, uid: &str) -> Result<(), String> {
    let (status, body) = answer.map_err(|e| format!("{e:#}"))?;
    if status != 200 {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    let review: Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
    if review["response"]["uid"] != uid {
        return Err(format!("no response for {uid}: {review}"));
    }
    Ok(())
}

fn load(
    port: u16,
    policy: &'static str,
    sample: &str,
    body: &[u8],
    uid: &str,
    options: &Options,
) -> Run {
    let path = format!("/validate/{policy}");
    // Warm-up: PolicyServer's instances, the connection, the caches.
    if let Ok(mut connection) = Connection::open(port) {
        for _ in 0..20 {
            let _ = connection.post(&path, body);
        }
    }
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let results: Vec<(Vec<Duration>, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..options.clients)
            .map(|_| {
                scope.spawn(|| {
                    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
                    let mut connection = Connection::open(port);
                    while next.fetch_add(1, Ordering::Relaxed) < options.requests {
                        let sent = Instant::now();
                        let answer = match connection.as_mut() {
                            Ok(connection) => connection.post(&path, body),
                            Err(e) => Err(anyhow::anyhow!("connecting: {e:#}")),
                        };
                        match check(answer, uid) {
                            Ok(()) => latencies.push(sent.elapsed()),
                            Err(e) => {
                                errors.push(e);
                                // A failed exchange leaves the connection unusable.
                                connection = Connection::open(port);
                            }
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let wall = start.elapsed();
    let mut latencies: Vec<Duration> = results.iter().flat_map(|(l, _)| l.clone()).collect();
    latencies.sort();
    let errors: Vec<&String> = results.iter().flat_map(|(_, e)| e).collect();
    Run {
        policy,
        sample: sample.to_owned(),
        latencies,
        errors: errors.len(),
        first_error: errors.first().map(|e| (*e).clone()),
        wall,
    }
}

fn report(runs: &[Run], options: &Options) {
    let title = format!(
        "PolicyServer load: {} requests per row, {} keep-alive clients, {} workers",
        options.requests, options.clients, options.workers
    );
    if options.markdown {
        println!("{title}\n");
        println!("| policy | sample | p50 ms | p90 ms | p99 ms | max ms | requests/s | errors |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
    } else {
        println!("{title}");
        println!(
            "{:<24} {:<22} {:>8} {:>8} {:>8} {:>8} {:>11} {:>7}",
            "policy", "sample", "p50 ms", "p90 ms", "p99 ms", "max ms", "requests/s", "errors"
        );
    }
    for run in runs {
        let cells = [
            run.percentile_ms(50.0),
            run.percentile_ms(90.0),
            run.percentile_ms(99.0),
            run.percentile_ms(100.0),
        ];
        if options.markdown {
            println!(
                "| `{}` | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
                run.policy,
                run.sample,
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                run.requests_per_second(),
                run.errors
            );
        } else {
            println!(
                "{:<24} {:<22} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>11.0} {:>7}",
                run.policy,
                run.sample,
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                run.requests_per_second(),
                run.errors
            );
        }
        if let Some(error) = &run.first_error {
            println!("    first error: {error}");
        }
    }
}

fn run() -> Result<bool> {
    let options = options()?;
    let (flagship, _) = kubewarden::annotated(FLAGSHIP)?;
    let reference = kubewarden::reference_policy()?;
    let served = [
        ServedPolicy::file(FLAGSHIP, &flagship, json!({}), true)?,
        ServedPolicy::file(REFERENCE, &reference, json!({}), false)?,
    ];
    let server = PolicyServer::start_with(
        &served,
        &ServerOptions {
            workers: options.workers,
            ..ServerOptions::default()
        },
    )?;
    let mut runs = Vec::new();
    for (sample, input) in samples::engine_samples()? {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": input.request});
        let body = serde_json::to_vec(&review)?;
        let uid = input.request["uid"].as_str().unwrap_or_default().to_owned();
        for policy in [FLAGSHIP, REFERENCE] {
            eprintln!("policy-load: {policy}: {sample}");
            runs.push(load(server.port(), policy, &sample, &body, &uid, &options));
        }
    }
    report(&runs, &options);
    let errors: usize = runs.iter().map(|r| r.errors).sum();
    if errors > 0 {
        eprintln!("policy-load: {errors} requests failed\n{}", server.log());
    }
    Ok(errors == 0)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("policy-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}
