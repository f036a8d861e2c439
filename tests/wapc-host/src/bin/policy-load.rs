//! `policy-load` (`make load`): a bounded load run against Kubewarden's PolicyServer on
//! loopback, serving the flagship (default settings) and, when `REFERENCE_POLICY` names
//! it, the reference policy of Kubewarden's policies repository (`pod-privileged-policy`,
//! built by the developer, never committed) side by side, with the benchmarks' floor module when `FLOOR_MODULE` names it and the flagship
//! again with its fixes set to warn (what a mutation costs, apart from the evaluation,
//! is the difference between the two flagships where it mutates). For each policy
//! and sample, in rounds that take turns, concurrent clients on keep-alive connections (as
//! the API server holds its connections to a webhook) send a fixed number of
//! AdmissionReviews; the run reports p50/p90/p99/max latency, requests per second,
//! PolicyServer's CPU time per request (its own cost, apart from the clients') and
//! errors (a transport failure, a status other than 200, or an answer without a
//! response for the request's uid), which must be 0.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wapc_test_host::kubewarden::{self, Connection, PolicyServer, ServedPolicy, ServerOptions};
use wapc_test_host::samples;
use wapc_test_host::{FLOOR_MODULE_ENV, floor_module};
use windows_workload_rules::wapc::policy::FLOOR;

const HELP: &str = "\
policy-load: a bounded load run of PolicyServer with the flagship, the reference policy
and the floor module

USAGE:
    policy-load [--requests N] [--clients C] [--workers W] [--rounds R] [--sample TEXT]
                [--policy ID] [--markdown]

    N requests (default 1000) per policy, sample and round, from C concurrent keep-alive
    clients (default 8), to a PolicyServer with W evaluation workers (default: the
    number of cores). In R rounds (default 5) the policies take turns, each round
    starting with the next. Requests/s is the median round's and the latencies are over
    all rounds; \"vs reference\" is the flagship's requests/s over the reference's (the
    target is at least 1.0), then its PolicyServer CPU time per request over the
    reference's and over the floor module's (FLOOR_MODULE, served beside them when set).
    The flagship is also served with every fix set to warn (windows-workloads-warn): the
    same evaluation answered without a mutation, so that on a sample the flagship
    mutates, the difference is what the mutation costs.

    Samples: a Linux Deployment of the corpus, a Windows one as written and as the
    flagship leaves it, and a Windows pod of 100 containers; --sample keeps the samples
    whose name contains TEXT, --policy keeps one policy (e.g. to profile PolicyServer
    serving it). Exits non-zero when any request fails.
";

const FLAGSHIP: &str = "windows-workloads";
const REFERENCE: &str = "pod-privileged-policy";
/// The flagship with every rule that can fix set to warn.
const FLAGSHIP_WARN: &str = "windows-workloads-warn";
/// Every policy served, in the order of the report.
const POLICIES: [&str; 4] = [FLAGSHIP, FLAGSHIP_WARN, REFERENCE, FLOOR];
// FLOOR: the benchmarks' floor module ([`floor_module`]), what any module of ours costs
// PolicyServer before its first rule.

struct Options {
    requests: usize,
    clients: usize,
    workers: usize,
    rounds: usize,
    sample: Option<String>,
    policy: Option<String>,
    markdown: bool,
}

fn options() -> Result<Options> {
    let mut options = Options {
        requests: 1000,
        clients: 8,
        workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        rounds: 5,
        sample: None,
        policy: None,
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
            "--rounds" => options.rounds = number()?,
            "--sample" => options.sample = Some(args.next().context("--sample needs a text")?),
            "--policy" => {
                let policy = args.next().context("--policy needs a policy id")?;
                if !POLICIES.contains(&policy.as_str()) {
                    bail!(
                        "--policy {policy}: the policies are {}",
                        POLICIES.join(", ")
                    );
                }
                options.policy = Some(policy);
            }
            "--markdown" => options.markdown = true,
            "-h" | "--help" => bail!("{HELP}"),
            other => bail!("unknown argument {other}\n\n{HELP}"),
        }
    }
    Ok(options)
}

/// What the rounds of one policy on one sample measured.
struct Run {
    policy: &'static str,
    sample: String,
    /// Every answered request's latency, over all rounds, sorted.
    latencies: Vec<Duration>,
    /// Requests per second of each round.
    rates: Vec<f64>,
    /// PolicyServer's CPU time per request of each round.
    server_cpu: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Run {
    fn new(policy: &'static str, sample: &str) -> Self {
        Run {
            policy,
            sample: sample.to_owned(),
            latencies: Vec::new(),
            rates: Vec::new(),
            server_cpu: Vec::new(),
            errors: 0,
            first_error: None,
        }
    }

    fn add(&mut self, round: Round) {
        let requests = round.latencies.len() + round.errors.len();
        self.rates
            .push(requests as f64 / round.wall.as_secs_f64().max(f64::MIN_POSITIVE));
        if let Some(cpu) = round.server_cpu {
            self.server_cpu.push(cpu / requests.max(1) as u32);
        }
        self.latencies.extend(round.latencies);
        self.latencies.sort();
        self.errors += round.errors.len();
        if self.first_error.is_none() {
            self.first_error = round.errors.into_iter().next();
        }
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies.len()) - 1;
        self.latencies[index].as_secs_f64() * 1e3
    }

    /// The median round's requests per second: one slow round on a noisy machine does
    /// not decide the comparison.
    fn requests_per_second(&self) -> f64 {
        median(&self.rates)
    }

    /// The median round's PolicyServer CPU time per request, µs.
    fn server_cpu_us(&self) -> f64 {
        let rounds: Vec<f64> = self
            .server_cpu
            .iter()
            .map(|cpu| cpu.as_secs_f64() * 1e6)
            .collect();
        median(&rounds)
    }
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// One round of one policy on one sample.
struct Round {
    latencies: Vec<Duration>,
    errors: Vec<String>,
    wall: Duration,
    /// PolicyServer's CPU time over the round (`None` off Linux).
    server_cpu: Option<Duration>,
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

fn load(server: &PolicyServer, policy: &str, body: &[u8], uid: &str, options: &Options) -> Round {
    let port = server.port();
    let path = format!("/validate/{policy}");
    // Warm-up: PolicyServer's instances, the connection, the caches.
    if let Ok(mut connection) = Connection::open(port) {
        for _ in 0..20 {
            let _ = connection.post(&path, body);
        }
    }
    let next = AtomicUsize::new(0);
    let cpu_before = server.cpu_time();
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
    let server_cpu = cpu_before
        .zip(server.cpu_time())
        .map(|(before, after)| after.saturating_sub(before));
    let (latencies, errors) = results.into_iter().fold(
        (Vec::new(), Vec::new()),
        |(mut latencies, mut errors), (l, e)| {
            latencies.extend(l);
            errors.extend(e);
            (latencies, errors)
        },
    );
    Round {
        latencies,
        errors,
        wall,
        server_cpu,
    }
}

fn report(runs: &[Run], options: &Options) {
    let title = format!(
        "PolicyServer load: {} requests per row and round, {} round(s), {} keep-alive \
         clients, {} workers",
        options.requests, options.rounds, options.clients, options.workers
    );
    // The flagship (either) over `other` on the same sample, by `figure`.
    let versus = |run: &Run, other: &str, figure: fn(&Run) -> f64| -> String {
        let other = runs
            .iter()
            .find(|r| r.policy == other && r.sample == run.sample);
        match other {
            Some(other) if [FLAGSHIP, FLAGSHIP_WARN].contains(&run.policy) => {
                format!("{:.2}", figure(run) / figure(other))
            }
            _ => String::new(),
        }
    };
    let header = [
        "policy",
        "sample",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "requests/s",
        "vs reference",
        "server CPU µs/request",
        "vs reference",
        "vs floor",
        "errors",
    ];
    let rows: Vec<[String; 12]> = runs
        .iter()
        .map(|run| {
            [
                if options.markdown {
                    format!("`{}`", run.policy)
                } else {
                    run.policy.to_owned()
                },
                run.sample.clone(),
                format!("{:.2}", run.percentile_ms(50.0)),
                format!("{:.2}", run.percentile_ms(90.0)),
                format!("{:.2}", run.percentile_ms(99.0)),
                format!("{:.2}", run.percentile_ms(100.0)),
                format!("{:.0}", run.requests_per_second()),
                versus(run, REFERENCE, Run::requests_per_second),
                format!("{:.0}", run.server_cpu_us()),
                versus(run, REFERENCE, Run::server_cpu_us),
                versus(run, FLOOR, Run::server_cpu_us),
                run.errors.to_string(),
            ]
        })
        .collect();
    if options.markdown {
        println!("{title}\n");
        println!("| {} |", header.join(" | "));
        println!("|---|---|{}", "---:|".repeat(header.len() - 2));
        for row in &rows {
            println!("| {} |", row.join(" | "));
        }
    } else {
        println!("{title}");
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                rows.iter()
                    .map(|row| row[i].chars().count())
                    .chain([header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[&str]| {
            let text: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, width))| {
                    let pad = width.saturating_sub(cell.chars().count());
                    if i < 2 {
                        format!("{cell}{}", " ".repeat(pad))
                    } else {
                        format!("{}{cell}", " ".repeat(pad))
                    }
                })
                .collect();
            println!("{}", text.join("  ").trim_end());
        };
        line(&header);
        for row in &rows {
            line(&row.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
    for run in runs {
        if let Some(error) = &run.first_error {
            println!("{} on {}: first error: {error}", run.policy, run.sample);
        }
    }
}

/// The flagship's settings with every rule that can fix set to warn.
fn fixes_as_warnings() -> Value {
    let rules: serde_json::Map<String, Value> = windows_workload_rules::rules::ALL_RULES
        .iter()
        .map(|rule| rule.meta())
        .filter(|meta| meta.can_mutate)
        .map(|meta| (meta.id.to_string(), json!("warn")))
        .collect();
    json!({ "rules": rules })
}

fn run() -> Result<bool> {
    let options = options()?;
    let (flagship, _) = kubewarden::annotated(FLAGSHIP)?;
    let mut served = vec![
        ServedPolicy::file(FLAGSHIP, &flagship, json!({}), true)?,
        ServedPolicy::file(FLAGSHIP_WARN, &flagship, fixes_as_warnings(), true)?,
    ];
    match kubewarden::reference_policy() {
        Ok(reference) => served.push(ServedPolicy::file(REFERENCE, &reference, json!({}), false)?),
        Err(e) => eprintln!(
            "policy-load: the reference policy is not measured ({e:#}): the ratios to it \
             stay empty, those to the floor module are shown"
        ),
    }
    match floor_module() {
        Some(floor) => {
            let floor = kubewarden::annotated_floor(&floor)?;
            served.push(ServedPolicy::file(FLOOR, &floor, json!({}), false)?);
        }
        None => eprintln!(
            "policy-load: no floor module: build it with `make bench-modules` (or set \
             {FLOOR_MODULE_ENV}); make load does"
        ),
    }
    let server = PolicyServer::start_with(
        &served,
        &ServerOptions {
            workers: options.workers,
            ..ServerOptions::default()
        },
    )?;
    let mut runs = Vec::new();
    let samples = samples::engine_samples()?
        .into_iter()
        .filter(|(sample, _)| {
            options
                .sample
                .as_ref()
                .is_none_or(|wanted| sample.contains(wanted.as_str()))
        });
    for (sample, input) in samples {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": input.request});
        let body = serde_json::to_vec(&review)?;
        let uid = input.request["uid"].as_str().unwrap_or_default().to_owned();
        let mut sample_runs: Vec<Run> = POLICIES
            .into_iter()
            .filter(|policy| served.iter().any(|served| served.id == *policy))
            .filter(|policy| {
                options
                    .policy
                    .as_ref()
                    .is_none_or(|wanted| wanted == policy)
            })
            .map(|policy| Run::new(policy, &sample))
            .collect();
        // Rounds alternate the policies, so that a noisy spell of the machine falls on
        // both alike, and each round starts with the next policy: whichever runs first
        // after a change of sample measured slower (by up to 15 % for the same module).
        for round in 0..options.rounds {
            for turn in 0..sample_runs.len() {
                let index = (round + turn) % sample_runs.len();
                let run = &mut sample_runs[index];
                eprintln!(
                    "policy-load: {}: {sample} (round {})",
                    run.policy,
                    round + 1
                );
                run.add(load(&server, run.policy, &body, &uid, &options));
            }
        }
        runs.extend(sample_runs);
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
