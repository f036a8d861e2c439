//! The names a Windows pod gives its identity, and the API server's rules for them
//! (`validateWindowsSecurityContextOptions` in kubernetes
//! `pkg/apis/core/validation/validation.go`; see docs/notes/apiserver-os-validation.md
//! §3b): `runAsUserName` (`DOMAIN\USER` or `USER`) and `gmsaCredentialSpecName` (a
//! DNS-1123 subdomain). ID-1 and ID-2 use them, and the settings validate their
//! allow-lists with them.
//!
//! Lengths are counted as the API server counts them: in bytes for the length limits of
//! the domain and user, in characters for the NetBIOS form (a regular expression).

/// The longest domain part of a `runAsUserName`, in bytes.
pub const MAX_DOMAIN_LENGTH: usize = 255;
/// The longest user part of a `runAsUserName`, in bytes.
pub const MAX_USER_LENGTH: usize = 104;
/// The longest DNS-1123 subdomain.
pub const MAX_SUBDOMAIN_LENGTH: usize = 253;
/// The largest inline `gmsaCredentialSpec`, in bytes (64 KiB).
pub const MAX_GMSA_CREDENTIAL_SPEC_LENGTH: usize = 64 * 1024;

/// Characters a user name may not contain.
const USER_FORBIDDEN: &[char] = &[
    '"', '/', '\\', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@', '[', ']',
];
/// Characters a NetBIOS domain may not contain.
const NETBIOS_FORBIDDEN: &[char] = &['\\', '/', ':', '*', '?', '"', '<', '>', '|'];

/// NetBIOS form: 1 to 15 characters, not starting with `.`, none of `\/:*?"<>|`.
fn is_netbios_domain(domain: &str) -> bool {
    let count = domain.chars().count();
    (1..=15).contains(&count) && !domain.starts_with('.') && !domain.contains(NETBIOS_FORBIDDEN)
}

/// DNS form: dot-separated labels of 1 to 63 letters, digits and `-`, each starting and
/// ending with a letter or digit (upper case allowed).
fn is_dns_domain(domain: &str) -> bool {
    domain.split('.').all(|label| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 63
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    })
}

/// Whether `domain` is a valid domain part of a `runAsUserName` (NetBIOS or DNS form).
pub fn is_valid_domain(domain: &str) -> bool {
    domain.len() <= MAX_DOMAIN_LENGTH && (is_netbios_domain(domain) || is_dns_domain(domain))
}

/// The API server's objections to a `runAsUserName`, with its messages; empty when the
/// name is valid. At most one of the first three (empty, control characters, several
/// backslashes) is reported, and only then are the domain and user checked.
pub fn run_as_user_name_errors(name: &str) -> Vec<&'static str> {
    if name.is_empty() {
        return vec!["runAsUserName cannot be an empty string"];
    }
    if name.chars().any(|c| c.is_ascii_control()) {
        return vec!["runAsUserName cannot contain control characters"];
    }
    let parts: Vec<&str> = name.split('\\').collect();
    let (domain, user) = match parts.as_slice() {
        [user] => (None, *user),
        [domain, user] => (Some(*domain), *user),
        _ => return vec!["runAsUserName cannot contain more than one backslash"],
    };
    let mut errors = Vec::new();
    if let Some(domain) = domain {
        if domain.len() > MAX_DOMAIN_LENGTH {
            errors.push("runAsUserName's Domain length must be under 256 characters");
        }
        if !is_netbios_domain(domain) && !is_dns_domain(domain) {
            errors.push("runAsUserName's Domain doesn't match the NetBios nor the DNS format");
        }
    }
    if user.is_empty() {
        errors.push("runAsUserName's User cannot be empty");
    } else if user.len() > MAX_USER_LENGTH {
        errors.push("runAsUserName's User length must not be longer than 104 characters");
    }
    if !user.is_empty() && user.chars().all(|c| c == '.' || c == ' ') {
        errors.push("runAsUserName's User cannot contain only periods or spaces");
    }
    if user.contains(USER_FORBIDDEN) {
        errors.push(
            "runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]",
        );
    }
    errors
}

/// Why `name` is not a DNS-1123 subdomain (the form of `gmsaCredentialSpecName`, which
/// names a cluster-scoped GMSACredentialSpec object), or `None` when it is one.
pub fn dns1123_subdomain_error(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_string());
    }
    if name.len() > MAX_SUBDOMAIN_LENGTH {
        return Some(format!(
            "must be no more than {MAX_SUBDOMAIN_LENGTH} characters"
        ));
    }
    let well_formed = name.split('.').all(|label| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && is_lower_alnum(bytes[0])
            && is_lower_alnum(bytes[bytes.len() - 1])
            && bytes.iter().all(|b| is_lower_alnum(*b) || *b == b'-')
    });
    (!well_formed).then(|| {
        "must be a lowercase RFC 1123 subdomain: lower case letters, digits, '-' and '.', starting and ending with a letter or digit (e.g. 'webapp1-gmsa')".to_string()
    })
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// A Windows name in double quotes for messages: backslashes stay as they are
/// (`"NT AUTHORITY\SYSTEM"`, not Rust's escaped form), control characters are escaped.
pub fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c.is_control() || c == '"' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// An entry of a `runAsUserName` allow-list: a name, or `DOMAIN\*` for every user of a
/// domain. Windows account names are case-insensitive, and so is matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserNamePattern {
    Exact(String),
    AnyUserOf(String),
}

impl UserNamePattern {
    /// Parses an allow-list entry; the error says why it can never match a valid name.
    pub fn parse(entry: &str) -> Result<UserNamePattern, String> {
        if let Some(domain) = entry.strip_suffix("\\*") {
            if is_valid_domain(domain) {
                return Ok(UserNamePattern::AnyUserOf(domain.to_lowercase()));
            }
            return Err(format!(
                "{}: {} is not a domain in NetBIOS or DNS form",
                quoted(entry),
                quoted(domain)
            ));
        }
        let errors = run_as_user_name_errors(entry);
        if errors.is_empty() {
            Ok(UserNamePattern::Exact(entry.to_lowercase()))
        } else {
            Err(format!(
                "{} is not a valid runAsUserName ({}); write a name such as ContainerUser or CONTOSO\\svc-web, or DOMAIN\\* for every user of a domain",
                quoted(entry),
                errors.join("; ")
            ))
        }
    }

    /// Whether `name` (a valid `runAsUserName`) matches, ignoring case.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        match self {
            UserNamePattern::Exact(exact) => name == *exact,
            UserNamePattern::AnyUserOf(domain) => name
                .split_once('\\')
                .is_some_and(|(d, user)| d == domain && !user.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_names_windows_pods_use() {
        for name in [
            "ContainerUser",
            "ContainerAdministrator",
            "NT AUTHORITY\\SYSTEM",
            "NT AUTHORITY\\Local service",
            "NT AUTHORITY\\NetworkService",
            // A local group, as a HostProcess container names it (HostProcess task doc).
            "hpc-localgroup",
            "CONTOSO\\svc-web",
            "corp.contoso.com\\svc.web",
            "a-b.c1\\u",
            &"u".repeat(MAX_USER_LENGTH),
            &format!("{}\\u", "d".repeat(15)),
        ] {
            assert_eq!(run_as_user_name_errors(name), Vec::<&str>::new(), "{name}");
        }
    }

    #[test]
    fn reports_the_api_servers_messages() {
        let long_user = "u".repeat(MAX_USER_LENGTH + 1);
        let long_domain = format!("{}\\u", "a".repeat(256));
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("", vec!["runAsUserName cannot be an empty string"]),
            (
                "Container\tUser",
                vec!["runAsUserName cannot contain control characters"],
            ),
            (
                "a\u{7f}",
                vec!["runAsUserName cannot contain control characters"],
            ),
            (
                "A\\B\\C",
                vec!["runAsUserName cannot contain more than one backslash"],
            ),
            (
                "\\user",
                vec!["runAsUserName's Domain doesn't match the NetBios nor the DNS format"],
            ),
            ("CONTOSO\\", vec!["runAsUserName's User cannot be empty"]),
            (
                &long_user,
                vec!["runAsUserName's User length must not be longer than 104 characters"],
            ),
            (
                "...",
                vec!["runAsUserName's User cannot contain only periods or spaces"],
            ),
            (
                "D\\. .",
                vec!["runAsUserName's User cannot contain only periods or spaces"],
            ),
            (
                "user@contoso.com",
                vec![
                    "runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]",
                ],
            ),
            (
                "D\\a*",
                vec![
                    "runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]",
                ],
            ),
            // 16 characters with a space: neither NetBIOS (too long) nor DNS (space).
            (
                "sixteen chars ab\\u",
                vec!["runAsUserName's Domain doesn't match the NetBios nor the DNS format"],
            ),
            (
                ".hidden\\u",
                vec!["runAsUserName's Domain doesn't match the NetBios nor the DNS format"],
            ),
            (
                &long_domain,
                vec![
                    "runAsUserName's Domain length must be under 256 characters",
                    "runAsUserName's Domain doesn't match the NetBios nor the DNS format",
                ],
            ),
            (
                "bad|dom\\",
                vec![
                    "runAsUserName's Domain doesn't match the NetBios nor the DNS format",
                    "runAsUserName's User cannot be empty",
                ],
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(run_as_user_name_errors(name), expected, "{name:?}");
        }
        // A 16-character DNS-form domain is fine.
        assert!(run_as_user_name_errors("sixteen-chars-ab\\u").is_empty());
    }

    #[test]
    fn checks_dns1123_subdomains() {
        for good in ["webapp1", "gmsa-webapp1", "a.b-c.d", "0", &"a".repeat(253)] {
            assert_eq!(dns1123_subdomain_error(good), None, "{good}");
        }
        for bad in [
            "",
            "WebApp1",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a_b",
            "a b",
            &"a".repeat(254),
        ] {
            assert!(dns1123_subdomain_error(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_quoted_without_escaping_backslashes() {
        assert_eq!(quoted("NT AUTHORITY\\SYSTEM"), "\"NT AUTHORITY\\SYSTEM\"");
        assert_eq!(quoted("a\tb\"c"), "\"a\\tb\\\"c\"");
    }

    #[test]
    fn allow_list_patterns_match_case_insensitively() {
        let exact = UserNamePattern::parse("ContainerUser").unwrap();
        assert!(exact.matches("containeruser"));
        assert!(!exact.matches("ContainerAdministrator"));
        let domain = UserNamePattern::parse("CONTOSO\\*").unwrap();
        assert!(domain.matches("contoso\\svc-web"));
        assert!(domain.matches("CONTOSO\\other"));
        assert!(!domain.matches("FABRIKAM\\svc-web"));
        assert!(!domain.matches("CONTOSO"));
        let nt = UserNamePattern::parse("NT AUTHORITY\\*").unwrap();
        assert!(nt.matches("NT AUTHORITY\\SYSTEM"));
        for bad in ["*", "\\*", "A\\B\\*", "user@contoso.com", "", "bad|dom\\*"] {
            assert!(UserNamePattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
