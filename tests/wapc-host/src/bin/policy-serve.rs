//! `policy-serve` (`make serve`): Kubewarden's PolicyServer on loopback serving every
//! module twice, as `<module>` with default settings and as `<module>-example` with its
//! `settings.example.yaml`, from the annotated files or from a registry, until
//! interrupted.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use wapc_test_host::kubewarden::{self, PolicyServer, ServedPolicy, ServerOptions};
use windows_workload_rules::modules::MODULES;

const HELP: &str = "\
policy-serve: Kubewarden's PolicyServer on 127.0.0.1 with every module of this repository

USAGE:
    policy-serve [--port PORT] [--workers N] [--registry HOST/PATH [--sources FILE]]

    Each module is served as /validate/<module> (default settings) and
    /validate/<module>-example (its settings.example.yaml). Without --registry the
    modules are annotated from the built ones (make build) with kwctl annotate; with it
    they are downloaded from registry://HOST/PATH/<module>:v<its version> (make push), and
    --sources names a kwctl sources file (insecure_sources for plain HTTP).
";

struct Options {
    server: ServerOptions,
    registry: Option<String>,
}

fn options() -> Result<Options> {
    let mut options = Options {
        server: ServerOptions {
            port: Some(3000),
            ..ServerOptions::default()
        },
        registry: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => options.server.port = Some(value()?.parse().context("--port")?),
            "--workers" => options.server.workers = value()?.parse().context("--workers")?,
            "--registry" => options.registry = Some(value()?),
            "--sources" => options.server.sources = Some(PathBuf::from(value()?)),
            "-h" | "--help" => bail!("{HELP}"),
            other => bail!("unknown argument {other}\n\n{HELP}"),
        }
    }
    Ok(options)
}

fn serve() -> Result<()> {
    let options = options()?;
    let mut served = Vec::new();
    for module in MODULES {
        let mutating = kubewarden::is_mutating(module.name);
        let settings = [
            (module.name.to_owned(), serde_json::json!({})),
            (
                format!("{}-example", module.name),
                kubewarden::example_settings(module.name),
            ),
        ];
        for (id, settings) in settings {
            served.push(match &options.registry {
                Some(registry) => ServedPolicy {
                    id,
                    module: format!(
                        "registry://{registry}/{}:v{}",
                        module.name,
                        kubewarden::module_version(module.name)?
                    ),
                    settings,
                    mutating,
                },
                None => ServedPolicy::annotated(&id, module.name, settings)?,
            });
        }
    }
    let server = PolicyServer::start_with(&served, &options.server)?;
    let port = server.port();
    println!("PolicyServer is ready on 127.0.0.1:{port}; Ctrl-C stops it. Policies:");
    for policy in &served {
        println!(
            "  POST http://127.0.0.1:{port}/validate/{}  ({})",
            policy.id, policy.module
        );
    }
    println!(
        "Try, from the repository root:\n  \
         printf '{{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":%s}}' \\\n    \
         \"$(cat policies/windows-workloads/test_data/windows-web-deployment-request.json)\" |\n  \
         curl -s -H 'Content-Type: application/json' --data @- \\\n    \
         http://127.0.0.1:{port}/validate/windows-workloads"
    );
    let status = server.wait()?;
    bail!("policy-server exited: {status}")
}

fn main() -> ExitCode {
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("policy-serve: {e:#}");
            ExitCode::FAILURE
        }
    }
}
