//! The modules' OCI host calls answered from a live registry, as Kubewarden's policy
//! evaluator answers them: with `oci-client` (the crate family of Kubewarden's own
//! fetcher), anonymously, plain HTTP only for the registries named insecure.
//!
//! - `oci` / `v1/oci_manifest`: the manifest the reference names, as the registry
//!   stores it: an image manifest, or an index with every platform (not resolved to
//!   one), serialized as `oci-client`'s `OciManifest`.
//! - `oci` / `v1/oci_manifest_config`: the image manifest (an index resolved to the
//!   host's platform, as `oci-client` resolves it), its digest and its config, as
//!   `{manifest, digest, config}` (policy-evaluator's `ManifestAndConfigResponse`).
//!
//! The request payload of both is the image reference as a JSON string. A failed
//! look-up fails the host call with the client's error, which the module reports.

use crate::host::{HostCall, HostCapabilities};
use anyhow::{Context, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;

/// The registries that answer over plain HTTP (`host:port`, e.g. a loopback registry),
/// as kwctl's `insecure_sources`; every other registry is asked over HTTPS.
#[derive(Clone, Debug, Default)]
pub struct OciOptions {
    pub insecure_registries: Vec<String>,
}

/// A client and the runtime its look-ups run on, shared by every instance.
struct Lookups {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl Lookups {
    /// Runs `future` to its end on this client's runtime, from any thread: on a thread
    /// of its own, so that a caller already inside another runtime (the webhook's
    /// blocking pool) never blocks that runtime's worker.
    fn run<T: Send>(&self, future: impl Future<Output = T> + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.runtime.block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn manifest(&self, image: &str) -> Result<Value, String> {
        let reference = reference(image)?;
        let (manifest, _digest) = self
            .run(
                self.client
                    .pull_manifest(&reference, &RegistryAuth::Anonymous),
            )
            .map_err(|e| format!("cannot fetch the manifest of {image}: {e}"))?;
        serde_json::to_value(manifest).map_err(|e| e.to_string())
    }

    fn manifest_and_config(&self, image: &str) -> Result<Value, String> {
        let reference = reference(image)?;
        let (manifest, digest, config) = self
            .run(
                self.client
                    .pull_manifest_and_config(&reference, &RegistryAuth::Anonymous),
            )
            .map_err(|e| format!("cannot fetch the manifest and config of {image}: {e}"))?;
        let config: Value = serde_json::from_str(&config)
            .map_err(|e| format!("the config of {image} is not JSON: {e}"))?;
        Ok(json!({"manifest": manifest, "digest": digest, "config": config}))
    }
}

fn reference(image: &str) -> Result<Reference, String> {
    image
        .parse()
        .map_err(|e| format!("{image} is not an image reference: {e}"))
}

/// The image reference a module sent: the payload is a JSON string.
fn image_of(call: &HostCall) -> Result<String, String> {
    serde_json::from_slice(&call.payload).map_err(|e| {
        format!(
            "the payload of oci/{} is not a JSON string: {e}",
            call.operation
        )
    })
}

fn answer(value: Result<Value, String>) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&value?).map_err(|e| e.to_string())
}

/// `capabilities` with the two OCI look-ups answered from live registries.
pub fn with_oci_lookups(
    capabilities: HostCapabilities,
    options: &OciOptions,
) -> Result<HostCapabilities> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a runtime for the OCI client")?;
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(options.insecure_registries.clone()),
        ..ClientConfig::default()
    });
    let lookups = Arc::new(Lookups { client, runtime });
    let for_config = Arc::clone(&lookups);
    Ok(capabilities
        .handler("oci", "v1/oci_manifest", move |call| {
            answer(image_of(call).and_then(|image| lookups.manifest(&image)))
        })
        .handler("oci", "v1/oci_manifest_config", move |call| {
            answer(image_of(call).and_then(|image| for_config.manifest_and_config(&image)))
        }))
}
