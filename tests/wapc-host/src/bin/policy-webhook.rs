//! `policy-webhook`: the modules in our waPC host behind an HTTPS admission webhook on
//! 127.0.0.1 (`wapc_test_host::webhook`), answering as PolicyServer does, until
//! interrupted; the kubernetes host calls optionally answered from a cluster.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use wapc_test_host::cluster::kubernetes_capabilities;
use wapc_test_host::kubewarden;
use wapc_test_host::webhook::PolicyMode;
use wapc_test_host::{PolicyModule, WebhookOptions, WebhookPolicy, WebhookServer, built_policy};
use windows_workload_rules::modules::MODULES;

const HELP: &str = "\
policy-webhook: the policy modules as an HTTPS admission webhook on 127.0.0.1

USAGE:
    policy-webhook --cert FILE --key FILE [--port PORT] [--workers N] [--log FILE]
                   [--kubeconfig] [--policy SPEC]...

    Without --policy, every module of this repository is served as /validate/<module>
    with its settings.example.yaml, allowed to mutate when its rules can, built as the
    tests build them (or taken from $WASM_MODULES_DIR).

    --policy ID=MODULE[,settings=FILE][,mutating][,monitor] serves MODULE (a .wasm file,
    or a package name of this repository) as /validate/ID, with the settings of FILE
    (YAML or JSON; default {}), allowed to mutate only with `mutating`.

    --cert, --key   the serving certificate (chain) and its key, PEM
    --port          default 8443 (0: a free port)
    --workers       evaluations at once (default 2)
    --log FILE      append each decision to FILE as a JSON line
    --kubeconfig    answer the modules' kubernetes host calls from the cluster of the
                    current kubeconfig ($KUBECONFIG, ~/.kube/config or in-cluster)
";

struct Options {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    port: u16,
    workers: usize,
    log: Option<PathBuf>,
    kubeconfig: bool,
    policies: Vec<String>,
}

fn options() -> Result<Options> {
    let mut options = Options {
        cert: None,
        key: None,
        port: 8443,
        workers: 2,
        log: None,
        kubeconfig: false,
        policies: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--cert" => options.cert = Some(PathBuf::from(value()?)),
            "--key" => options.key = Some(PathBuf::from(value()?)),
            "--port" => options.port = value()?.parse().context("--port")?,
            "--workers" => options.workers = value()?.parse().context("--workers")?,
            "--log" => options.log = Some(PathBuf::from(value()?)),
            "--kubeconfig" => options.kubeconfig = true,
            "--policy" => options.policies.push(value()?),
            "-h" | "--help" => bail!("{HELP}"),
            other => bail!("unknown argument {other}\n\n{HELP}"),
        }
    }
    Ok(options)
}

/// `ID=MODULE[,settings=FILE][,mutating][,monitor]`.
fn policy(spec: &str) -> Result<WebhookPolicy> {
    let (id, rest) = spec
        .split_once('=')
        .with_context(|| format!("--policy {spec}: expected ID=MODULE[,...]"))?;
    let mut parts = rest.split(',');
    let module_name = parts.next().unwrap_or_default();
    let module = if module_name.ends_with(".wasm") || module_name.contains('/') {
        PolicyModule::load(module_name)?
    } else {
        built_policy(module_name)?
    };
    let mut settings = Value::Object(Default::default());
    let mut mutating = false;
    let mut mode = PolicyMode::Protect;
    for part in parts {
        match part.split_once('=') {
            Some(("settings", file)) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read settings {file}"))?;
                settings = serde_yaml::from_str(&text)
                    .with_context(|| format!("cannot parse settings {file}"))?;
                if settings.is_null() {
                    settings = Value::Object(Default::default());
                }
            }
            None if part == "mutating" => mutating = true,
            None if part == "monitor" => mode = PolicyMode::Monitor,
            _ => bail!("--policy {spec}: unknown option {part:?}"),
        }
    }
    Ok(WebhookPolicy::new(id, module, settings, mutating).with_mode(mode))
}

fn serve() -> Result<()> {
    let options = options()?;
    let (Some(cert), Some(key)) = (&options.cert, &options.key) else {
        bail!("--cert and --key are required\n\n{HELP}");
    };
    let mut policies = Vec::new();
    if options.policies.is_empty() {
        for module in MODULES {
            policies.push(WebhookPolicy::new(
                module.name,
                built_policy(module.name)?,
                kubewarden::example_settings(module.name),
                kubewarden::is_mutating(module.name),
            ));
        }
    }
    for spec in &options.policies {
        policies.push(policy(spec)?);
    }
    let ids: Vec<String> = policies.iter().map(|p| p.id.clone()).collect();

    // The kube client lives on a runtime of its own, which outlives the server.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("a runtime for the Kubernetes client")?;
    let mut webhook = WebhookOptions::from_files(cert, key)?;
    webhook.port = options.port;
    webhook.workers = options.workers;
    webhook.log_file = options.log.clone();
    if options.kubeconfig {
        let client = runtime
            .block_on(kube::Client::try_default())
            .context("cannot make a Kubernetes client from the kubeconfig")?;
        webhook.capabilities = kubernetes_capabilities(client, runtime.handle().clone());
    }
    let server = WebhookServer::start(policies, webhook)?;
    for id in &ids {
        println!("{}", server.url(id));
    }
    loop {
        std::thread::park();
    }
}

fn main() -> ExitCode {
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("policy-webhook: {e:#}");
            ExitCode::FAILURE
        }
    }
}
