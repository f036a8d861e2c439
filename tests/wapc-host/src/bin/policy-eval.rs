//! `policy-eval`: run Kubernetes manifests or admission requests through a
//! Kubewarden policy module in the native waPC test host.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use wapc_test_host::{
    HostCapabilities, Input, Outcome, PolicyModule, evaluate, input_files, load_file, parse_inputs,
};

const HELP: &str = "\
policy-eval: evaluate Kubernetes objects with a Kubewarden policy module (.wasm)
in a native waPC host (wapc + wasmtime, as Kubewarden's policy evaluator).

USAGE:
    policy-eval --module PATH.wasm [OPTIONS] INPUT...

INPUT:
    A file or a folder (searched recursively for .yaml, .yml and .json files,
    in path order), or `-` for standard input. Each file may hold:
      - plain manifests, YAML or JSON, several YAML documents separated by
        `---`, and `List`s (kind: List or any *List with `items`); each
        object is wrapped into a CREATE AdmissionRequest by kubernetes-admin;
      - a Kubewarden validation request {\"settings\": ..., \"request\": ...}
        (its own settings, if any, replace --settings for it);
      - an AdmissionReview (its `request` is used) or a bare AdmissionRequest.

OPTIONS:
    -m, --module PATH       the policy module to run (required)
    -s, --settings FILE     policy settings, YAML or JSON (default: {})
    -f, --format FORMAT     `text` (default) or `json`
        --check-settings    only check the settings with the module's
                            validate_settings, then exit
        --fixtures FILE     answers for host capabilities (YAML or JSON), a
                            list of {namespace, operation, request?,
                            response | error}, e.g.
                              - namespace: oci
                                operation: v1/oci_manifest_config
                                request: mcr.microsoft.com/windows/nanoserver:ltsc2022
                                response: {manifest: ..., digest: ..., config: ...}
                            Without one, capability calls (OCI, Kubernetes
                            lookups...) fail with an error naming them.
    -h, --help              print this help

OUTPUT (text):
    ACCEPTED Kind/namespace/name (file#doc)
    REJECTED Kind/namespace/name (file#doc): message
    MUTATED Kind/namespace/name (file#doc)
      {\"op\":\"add\",\"path\":\"/spec/...\",\"value\":...}     one JSON patch op a line
    ERROR Kind/namespace/name (file#doc): message
      warning: ...                                     the response's warnings
    then a summary line with the counts. `#doc` is the document index in the
    file, from 0 (`.items[i]` for an item of a List).

OUTPUT (json):
    One JSON array; each element has label, origin, decision (accepted,
    rejected, mutated, error), message, code, patch and warnings.

The settings are always checked first with validate_settings; invalid
settings print the module's message.

ENVIRONMENT:
    WAPC_HOST_LOG=1         print the module's log lines on stderr
    WAPC_HOST_TIMEOUT_MS=N  deadline of one guest call (default 10000)
    WAPC_HOST_MEMORY_LIMIT_MB=N
                            linear memory of the module's instance, at most
                            (default 256)
    WAPC_HOST_CACHE_DIR=D   Wasmtime's cache of compiled modules (default
                            <workspace>/target/wasmtime-cache; `off`: none)

EXIT STATUS:
    0  the inputs were evaluated (whatever the decisions)
    1  some input could not be read or parsed, or the module failed on it
    2  usage error, unreadable or invalid settings, module that cannot load
";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

struct Args {
    module: PathBuf,
    settings: Option<PathBuf>,
    format: Format,
    check_settings: bool,
    fixtures: Option<PathBuf>,
    inputs: Vec<String>,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_args(raw: Vec<String>) -> Result<Parsed, String> {
    let mut module = None;
    let mut settings = None;
    let mut format = Format::Text;
    let mut check_settings = false;
    let mut fixtures = None;
    let mut inputs = Vec::new();
    let mut raw = raw.into_iter();
    let mut only_inputs = false;
    while let Some(arg) = raw.next() {
        if only_inputs || arg == "-" || !arg.starts_with('-') {
            inputs.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| raw.next())
                .ok_or_else(|| format!("{name} needs a value ({what})"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-m" | "--module" => module = Some(PathBuf::from(value("a .wasm file")?)),
            "-s" | "--settings" => settings = Some(PathBuf::from(value("a YAML or JSON file")?)),
            "-f" | "--format" => {
                format = match value("text or json")?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    other => return Err(format!("unknown format {other:?}: use text or json")),
                }
            }
            "--check-settings" => check_settings = true,
            "--fixtures" => fixtures = Some(PathBuf::from(value("a YAML or JSON file")?)),
            "--" => only_inputs = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let module = module.ok_or("--module is required")?;
    if inputs.is_empty() && !check_settings {
        return Err("no INPUT given".to_owned());
    }
    Ok(Parsed::Run(Args {
        module,
        settings,
        format,
        check_settings,
        fixtures,
        inputs,
    }))
}

fn read_settings(path: &PathBuf) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read settings {}: {e}", path.display()))?;
    let value: Value = serde_yaml::from_str(&text)
        .map_err(|e| format!("cannot parse settings {}: {e}", path.display()))?;
    Ok(if value.is_null() { json!({}) } else { value })
}

/// The inputs of one command-line INPUT: per file, its inputs or the error.
fn collect(arg: &str) -> Vec<(String, Result<Vec<Input>, String>)> {
    if arg == "-" {
        let mut text = String::new();
        let parsed = std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))
            .and_then(|_| parse_inputs(&text, "<stdin>").map_err(|e| format!("{e:#}")));
        return vec![("<stdin>".to_owned(), parsed)];
    }
    match input_files(arg) {
        Ok(files) => files
            .into_iter()
            .map(|file| {
                let parsed = load_file(&file).map_err(|e| format!("{e:#}"));
                (file.display().to_string(), parsed)
            })
            .collect(),
        Err(e) => vec![(arg.to_owned(), Err(format!("{e:#}")))],
    }
}

#[derive(Default)]
struct Counts {
    accepted: usize,
    rejected: usize,
    mutated: usize,
    errors: usize,
}

fn print_outcome(out: &mut impl Write, outcome: &Outcome) -> std::io::Result<()> {
    let head = format!("{} ({})", outcome.label, outcome.origin);
    match (outcome.decision.name(), outcome.message()) {
        ("accepted", _) => writeln!(out, "ACCEPTED {head}")?,
        ("mutated", _) => {
            if outcome.patch().is_empty() {
                writeln!(
                    out,
                    "MUTATED {head} (mutated object identical to the original)"
                )?;
            } else {
                writeln!(out, "MUTATED {head}")?;
            }
            for op in outcome.patch() {
                let op = serde_json::to_string(op).unwrap_or_default();
                writeln!(out, "  {op}")?;
            }
        }
        ("rejected", message) => writeln!(
            out,
            "REJECTED {head}: {}",
            message.unwrap_or("(no message)")
        )?,
        (_, message) => writeln!(out, "ERROR {head}: {}", message.unwrap_or_default())?,
    }
    for warning in &outcome.warnings {
        writeln!(out, "  warning: {warning}")?;
    }
    Ok(())
}

fn run(args: Args) -> u8 {
    let module = match PolicyModule::load(&args.module) {
        Ok(module) => module,
        Err(e) => {
            eprintln!("policy-eval: {e:#}");
            return 2;
        }
    };
    let capabilities = match args
        .fixtures
        .as_ref()
        .map(HostCapabilities::load)
        .transpose()
    {
        Ok(capabilities) => capabilities.unwrap_or_default(),
        Err(e) => {
            eprintln!("policy-eval: {e:#}");
            return 2;
        }
    };
    let module = match module.instance_with(capabilities) {
        Ok(instance) => instance,
        Err(e) => {
            eprintln!("policy-eval: {e:#}");
            return 2;
        }
    };
    let settings = match args.settings.as_ref().map(read_settings).transpose() {
        Ok(settings) => settings.unwrap_or_else(|| json!({})),
        Err(e) => {
            eprintln!("policy-eval: {e}");
            return 2;
        }
    };
    match module.validate_settings(&settings) {
        Ok(v) if v.valid => {
            if args.check_settings {
                println!("settings valid");
                return 0;
            }
        }
        Ok(v) => {
            let message = v.message.unwrap_or_else(|| "(no message)".to_owned());
            eprintln!("policy-eval: invalid settings: {message}");
            if args.check_settings {
                println!("settings invalid: {message}");
            }
            return 2;
        }
        Err(e) => {
            eprintln!("policy-eval: validate_settings failed: {e:#}");
            return 2;
        }
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut counts = Counts::default();
    let mut json_outcomes = Vec::new();
    for arg in &args.inputs {
        for (file, parsed) in collect(arg) {
            let inputs = match parsed {
                Ok(inputs) => inputs,
                Err(message) => {
                    counts.errors += 1;
                    match args.format {
                        Format::Text if message.starts_with(&file) => {
                            let _ = writeln!(out, "ERROR {message}");
                        }
                        Format::Text => {
                            let _ = writeln!(out, "ERROR {file}: {message}");
                        }
                        Format::Json => json_outcomes.push(json!({
                            "label": null, "origin": file, "decision": "error", "message": message,
                            "code": null, "patch": [], "warnings": []
                        })),
                    }
                    continue;
                }
            };
            for outcome in evaluate(&module, &settings, &inputs) {
                match outcome.decision.name() {
                    "accepted" => counts.accepted += 1,
                    "rejected" => counts.rejected += 1,
                    "mutated" => counts.mutated += 1,
                    _ => counts.errors += 1,
                }
                match args.format {
                    Format::Text => {
                        let _ = print_outcome(&mut out, &outcome);
                    }
                    Format::Json => json_outcomes.push(outcome.to_json()),
                }
            }
        }
    }
    match args.format {
        Format::Text => {
            let total = counts.accepted + counts.rejected + counts.mutated + counts.errors;
            let _ = writeln!(
                out,
                "{total} evaluated: {} accepted, {} rejected, {} mutated, {} errors",
                counts.accepted, counts.rejected, counts.mutated, counts.errors
            );
        }
        Format::Json => {
            let text =
                serde_json::to_string_pretty(&Value::Array(json_outcomes)).unwrap_or_default();
            let _ = writeln!(out, "{text}");
        }
    }
    let _ = out.flush();
    u8::from(counts.errors > 0)
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match parse_args(raw) {
        Ok(Parsed::Help) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Parsed::Run(args)) => ExitCode::from(run(args)),
        Err(e) => {
            eprintln!("policy-eval: {e}\nTry `policy-eval --help`.");
            ExitCode::from(2)
        }
    }
}
