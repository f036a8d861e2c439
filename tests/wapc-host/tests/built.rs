//! `built_module`: a real policy package built (or found) and loaded.

use wapc_test_host::{built_module, built_policy};

#[test]
fn a_policy_package_is_built_once_and_loads() {
    let package = "windows-os-placement";
    let path = built_module(package).unwrap();
    assert!(
        path.ends_with("windows_os_placement.wasm"),
        "{}",
        path.display()
    );
    assert!(path.is_file());
    // Once per process: the second call does not build again.
    assert_eq!(built_module(package).unwrap(), path);

    let module = built_policy(package).unwrap();
    assert_eq!(module.path(), Some(path.as_path()));
    assert_eq!(module.protocol_version().unwrap(), "v1");

    // Malformed payloads come back as an error (or a rejection), and the
    // module keeps serving.
    for payload in [&b"{ not json"[..], b"", b"{}", b"null"] {
        if let Ok(response) = module.validate_raw(payload) {
            assert!(!response.accepted, "{payload:?} accepted");
        }
    }
    assert_eq!(module.protocol_version().unwrap(), "v1");

    let err = format!("{:#}", built_module("no-such-policy").unwrap_err());
    assert!(err.contains("no-such-policy"), "{err}");
}
