//! A small RFC 6902 JSON Patch subset (`add`, `remove`, `replace`), applied to an object's
//! JSON text ([`apply_to_text`], how a request's object is patched) or to its
//! `serde_json::Value` ([`apply`], where the text cannot be patched as the tree would be).
//!
//! Rules propose patches against the *original* request object, so every field the
//! rules do not name — including fields unknown to `k8s-openapi` — survives a mutation
//! byte for byte. `diff` gives the minimal patch between two objects, used to show a
//! mutation to people and to check that a mutated object needs no further change.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// One JSON Patch operation; `path` is a JSON pointer (RFC 6901).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
}

impl PatchOp {
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Add { path, .. }
            | PatchOp::Remove { path }
            | PatchOp::Replace { path, .. } => path,
        }
    }
}

impl fmt::Display for PatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchOp::Add { path, value } => write!(f, "add {path} {value}"),
            PatchOp::Remove { path } => write!(f, "remove {path}"),
            PatchOp::Replace { path, value } => write!(f, "replace {path} {value}"),
        }
    }
}

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot patch {}: {}", self.path, self.reason)
    }
}

impl std::error::Error for PatchError {}

/// Escapes one reference token of a JSON pointer (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Builds a JSON pointer from plain (unescaped) tokens.
pub fn pointer<I, S>(tokens: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for token in tokens {
        out.push('/');
        out.push_str(&escape_token(token.as_ref()));
    }
    out
}

/// The unescaped reference tokens of a JSON pointer (`/a/b~1c` → `a`, `b/c`).
pub fn pointer_tokens(path: &str) -> Result<Vec<Cow<'_, str>>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(PatchError {
            path: path.to_string(),
            reason: "a JSON pointer must start with '/'".to_string(),
        });
    };
    // Unescaped (`~1` then `~0`, in that order) only where a token has a `~`.
    Ok(rest
        .split('/')
        .map(|t| match t.contains('~') {
            true => Cow::Owned(t.replace("~1", "/").replace("~0", "~")),
            false => Cow::Borrowed(t),
        })
        .collect())
}

fn err(path: &str, reason: impl Into<String>) -> PatchError {
    PatchError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn array_index(path: &str, token: &str, len: usize, allow_end: bool) -> Result<usize, PatchError> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let index = crate::k8s::json_text::list_index(token)
        .ok_or_else(|| err(path, format!("'{token}' is not an array index")))?;
    let limit = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if index > limit || (!allow_end && len == 0) {
        return Err(err(path, format!("index {index} is out of bounds")));
    }
    Ok(index)
}

/// Applies `ops` in order, and tells whether they changed `doc` (an `add` or `replace` of
/// the value already there changes nothing). On error `doc` may be partly patched:
/// callers patch a copy.
pub fn apply(doc: &mut Value, ops: &[PatchOp]) -> Result<bool, PatchError> {
    let mut changed = false;
    for op in ops {
        changed |= apply_one(doc, op)?;
    }
    Ok(changed)
}

fn apply_one(doc: &mut Value, op: &PatchOp) -> Result<bool, PatchError> {
    let path = op.path();
    let mut tokens = pointer_tokens(path)?;
    let Some(last) = tokens.pop() else {
        // The whole document.
        return match op {
            PatchOp::Add { value, .. } | PatchOp::Replace { value, .. } => {
                let changed = doc != value;
                *doc = value.clone();
                Ok(changed)
            }
            PatchOp::Remove { .. } => Err(err(path, "cannot remove the whole document")),
        };
    };
    let mut parent = &mut *doc;
    for token in &tokens {
        parent = match parent {
            Value::Object(map) => map
                .get_mut(token.as_ref())
                .ok_or_else(|| err(path, format!("'{token}' does not exist")))?,
            Value::Array(items) => {
                let index = array_index(path, token, items.len(), false)?;
                &mut items[index]
            }
            _ => {
                return Err(err(
                    path,
                    format!("'{token}' is not inside an object or array"),
                ));
            }
        };
    }
    let changed = match (parent, op) {
        (Value::Object(map), PatchOp::Add { value, .. }) => {
            map.insert(last.into_owned(), value.clone()).as_ref() != Some(value)
        }
        (Value::Object(map), PatchOp::Replace { value, .. }) => match map.get_mut(last.as_ref()) {
            Some(slot) => {
                let changed = slot != value;
                *slot = value.clone();
                changed
            }
            None => return Err(err(path, format!("'{last}' does not exist"))),
        },
        (Value::Object(map), PatchOp::Remove { .. }) => {
            if map.shift_remove(last.as_ref()).is_none() {
                return Err(err(path, format!("'{last}' does not exist")));
            }
            true
        }
        (Value::Array(items), PatchOp::Add { value, .. }) => {
            let index = array_index(path, &last, items.len(), true)?;
            items.insert(index, value.clone());
            true
        }
        (Value::Array(items), PatchOp::Replace { value, .. }) => {
            let index = array_index(path, &last, items.len(), false)?;
            let changed = items[index] != *value;
            items[index] = value.clone();
            changed
        }
        (Value::Array(items), PatchOp::Remove { .. }) => {
            let index = array_index(path, &last, items.len(), false)?;
            items.remove(index);
            true
        }
        _ => return Err(err(path, "the parent is not an object or array")),
    };
    Ok(changed)
}

/// Applies `ops` to the JSON text of a document as [`apply`] applies them to its tree,
/// and tells whether they changed it: the text is spliced where an op acts, so every
/// other byte stays as written, and the text read as a `Value` is the tree `apply` makes
/// (keys in the same order: a new key goes last, a replaced value keeps its place).
/// `None` when that cannot be done on the text (an op on the whole document, a key
/// written twice on the way, an op that does not apply): patch the tree, which says why.
/// `text` may then be partly patched: callers patch a copy.
pub fn apply_to_text(text: &mut String, ops: &[PatchOp]) -> Option<bool> {
    let mut changed = false;
    for op in ops {
        let (range, replacement, op_changed) = text_edit(text, op)?;
        text.replace_range(range, &replacement);
        changed |= op_changed;
    }
    Some(changed)
}

/// The one splice of `text` that applies `op`: where, what goes there, and whether it
/// changes the document.
fn text_edit(text: &str, op: &PatchOp) -> Option<(std::ops::Range<usize>, String, bool)> {
    let mut tokens = pointer_tokens(op.path()).ok()?;
    let last = tokens.pop()?;
    let container = crate::k8s::json_text::container_at(text, &tokens)?;
    let items = &container.items;
    let index = if container.is_map {
        let mut named = items
            .iter()
            .enumerate()
            .filter(|(_, item)| item.key.as_deref() == Some(&*last))
            .map(|(index, _)| index);
        let index = named.next();
        if named.next().is_some() {
            return None;
        }
        index
    } else {
        match op {
            PatchOp::Add { .. } if last == "-" => Some(items.len()),
            _ => Some(crate::k8s::json_text::list_index(&last)?),
        }
    };
    let at_end = || {
        let position = items
            .last()
            .map_or(container.open + 1, |item| item.value.end);
        position..position
    };
    let separator = if items.is_empty() { "" } else { "," };
    match (op, index) {
        // A map's entry set again, or a list's item replaced: the value's text is swapped.
        (PatchOp::Add { value, .. }, Some(index)) if container.is_map => {
            replace_item_value(text, &items[index].value, value)
        }
        (PatchOp::Replace { value, .. }, Some(index)) if index < items.len() => {
            replace_item_value(text, &items[index].value, value)
        }
        (PatchOp::Add { value, .. }, None) if container.is_map => {
            let key = serde_json::to_string(&*last).ok()?;
            let value = serde_json::to_string(value).ok()?;
            Some((at_end(), format!("{separator}{key}:{value}"), true))
        }
        (PatchOp::Add { value, .. }, Some(index)) => {
            let value = serde_json::to_string(value).ok()?;
            if index == items.len() {
                return Some((at_end(), format!("{separator}{value}"), true));
            }
            let start = items.get(index)?.start;
            Some((start..start, format!("{value},"), true))
        }
        (PatchOp::Remove { .. }, Some(index)) if index < items.len() => {
            // The item goes with one comma: the one before it, else the one after it.
            let range = match (index.checked_sub(1), items.get(index + 1)) {
                (Some(before), _) => items[before].value.end..items[index].value.end,
                (None, Some(after)) => items[index].start..after.start,
                (None, None) => items[index].start..items[index].value.end,
            };
            Some((range, String::new(), true))
        }
        _ => None,
    }
}

fn replace_item_value(
    text: &str,
    written: &std::ops::Range<usize>,
    value: &Value,
) -> Option<(std::ops::Range<usize>, String, bool)> {
    let old = crate::k8s::json_text::value_of(&text[written.clone()]).ok()?;
    let changed = old != *value;
    Some((written.clone(), serde_json::to_string(value).ok()?, changed))
}

/// The minimal patch turning `from` into `to`: objects are compared key by key,
/// arrays element by element (a grown or shrunk tail becomes `add`/`remove` at the end).
pub fn diff(from: &Value, to: &Value) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    diff_into(from, to, &mut String::new(), &mut ops);
    ops
}

fn diff_into(from: &Value, to: &Value, path: &mut String, ops: &mut Vec<PatchOp>) {
    if from == to {
        return;
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                let len = path.len();
                path.push('/');
                path.push_str(&escape_token(key));
                match b.get(key) {
                    Some(new) => diff_into(old, new, path, ops),
                    None => ops.push(PatchOp::Remove { path: path.clone() }),
                }
                path.truncate(len);
            }
            for (key, new) in b {
                if !a.contains_key(key) {
                    ops.push(PatchOp::Add {
                        path: format!("{path}/{}", escape_token(key)),
                        value: new.clone(),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            let common = a.len().min(b.len());
            for i in 0..common {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                diff_into(&a[i], &b[i], path, ops);
                path.truncate(len);
            }
            for (i, new) in b.iter().enumerate().skip(common) {
                ops.push(PatchOp::Add {
                    path: format!("{path}/{i}"),
                    value: new.clone(),
                });
            }
            // Remove from the end so the indices stay valid while applying.
            for i in (common..a.len()).rev() {
                ops.push(PatchOp::Remove {
                    path: format!("{path}/{i}"),
                });
            }
        }
        _ => ops.push(PatchOp::Replace {
            path: path.clone(),
            value: to.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_creates_key_and_appends_to_arrays() {
        let mut doc = json!({"spec": {"tolerations": [{"key": "a"}], "x-unknown": 1}});
        apply(
            &mut doc,
            &[
                PatchOp::Add {
                    path: "/spec/nodeSelector".into(),
                    value: json!({"kubernetes.io/os": "linux"}),
                },
                PatchOp::Add {
                    path: "/spec/tolerations/-".into(),
                    value: json!({"key": "os"}),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"spec": {"tolerations": [{"key": "a"}, {"key": "os"}], "x-unknown": 1,
                "nodeSelector": {"kubernetes.io/os": "linux"}}})
        );
    }

    #[test]
    fn apply_tells_whether_the_document_changed() {
        let doc = json!({"a": {"b": 1}, "l": [1, 2]});
        let add = |path: &str, value: Value| PatchOp::Add {
            path: path.to_string(),
            value,
        };
        let replace = |path: &str, value: Value| PatchOp::Replace {
            path: path.to_string(),
            value,
        };
        for (ops, expected) in [
            (vec![add("/a/b", json!(1))], false),
            (
                vec![replace("/a/b", json!(1)), replace("/l/0", json!(1))],
                false,
            ),
            (vec![replace("", doc.clone())], false),
            (vec![add("/a/b", json!(2))], true),
            (vec![add("/a/c", json!(1))], true),
            (vec![replace("/l/1", json!(3))], true),
            (vec![add("/l/-", json!(3))], true),
            (
                vec![PatchOp::Remove {
                    path: "/a/b".to_string(),
                }],
                true,
            ),
            (vec![add("/a/b", json!(1)), add("/a/c", json!(1))], true),
        ] {
            let mut patched = doc.clone();
            assert_eq!(apply(&mut patched, &ops), Ok(expected), "{ops:?}");
            assert_eq!(patched != doc, expected, "{ops:?}");
        }
    }

    fn text_patched(text: &str, ops: &[PatchOp]) -> Option<(String, bool)> {
        let mut text = text.to_string();
        let changed = apply_to_text(&mut text, ops)?;
        Some((text, changed))
    }

    #[test]
    fn a_text_patch_splices_only_where_it_acts() {
        // Spaces, key order and number spelling stay as written everywhere else.
        let text =
            r#"{ "spec" : { "x-unknown" : 1.50 , "tolerations" : [ {"key":"a"} ] } , "b": [] }"#;
        let ops = [
            PatchOp::Add {
                path: "/spec/tolerations/-".into(),
                value: json!({"key": "os"}),
            },
            PatchOp::Add {
                path: "/spec/os".into(),
                value: json!({"name": "windows"}),
            },
            PatchOp::Add {
                path: "/b/0".into(),
                value: json!(1),
            },
        ];
        assert_eq!(
            text_patched(text, &ops),
            Some((
                r#"{ "spec" : { "x-unknown" : 1.50 , "tolerations" : [ {"key":"a"},{"key":"os"} ],"os":{"name":"windows"} } , "b": [1] }"#
                    .to_string(),
                true
            ))
        );
        // A removed item takes one comma with it: the one before it, else the one after.
        let removed = |path: &str| {
            text_patched(
                r#"{"a": 1, "b": 2, "c": 3}"#,
                &[PatchOp::Remove { path: path.into() }],
            )
            .map(|(text, _)| text)
        };
        assert_eq!(removed("/a").as_deref(), Some(r#"{"b": 2, "c": 3}"#));
        assert_eq!(removed("/b").as_deref(), Some(r#"{"a": 1, "c": 3}"#));
        assert_eq!(removed("/c").as_deref(), Some(r#"{"a": 1, "b": 2}"#));
        // A value set to what it was changes nothing; a replaced value keeps its place.
        let same = PatchOp::Add {
            path: "/a".into(),
            value: json!(1.0),
        };
        assert_eq!(
            text_patched(r#"{"a":1.0,"z":0}"#, &[same]),
            Some((r#"{"a":1.0,"z":0}"#.to_string(), false))
        );
        let other = PatchOp::Replace {
            path: "/a".into(),
            value: json!("x"),
        };
        assert_eq!(
            text_patched(r#"{"a":1.0,"z":0}"#, &[other]),
            Some((r#"{"a":"x","z":0}"#.to_string(), true))
        );
    }

    #[test]
    fn what_the_text_cannot_patch_is_left_to_the_tree() {
        let add = |path: &str| PatchOp::Add {
            path: path.into(),
            value: json!(1),
        };
        // A key written twice on the way: a `Value` keeps one of them.
        assert_eq!(text_patched(r#"{"a":{},"a":{}}"#, &[add("/a/b")]), None);
        assert_eq!(text_patched(r#"{"a":1,"a":2}"#, &[add("/a")]), None);
        // The whole document; ops that do not apply, as the tree's errors say.
        assert_eq!(text_patched(r#"{}"#, &[add("")]), None);
        assert_eq!(text_patched(r#"{"a":[]}"#, &[add("/a/1")]), None);
        assert_eq!(text_patched(r#"{"a":[]}"#, &[add("/a/x")]), None);
        assert_eq!(text_patched(r#"{"a":2}"#, &[add("/a/b")]), None);
        assert_eq!(
            text_patched(r#"{}"#, &[PatchOp::Remove { path: "/a".into() }]),
            None
        );
        assert_eq!(text_patched(r#"{"a":"#, &[add("/b")]), None);
    }

    #[test]
    fn pointer_tokens_unescape_in_the_rfc_order() {
        // RFC 6901: `~1` becomes `/` first, then `~0` becomes `~`, so `~01` is `~1`.
        let tokens = pointer_tokens("/a~1b/c~0d/~01/plain/").unwrap();
        assert_eq!(tokens, ["a/b", "c~d", "~1", "plain", ""]);
        assert!(pointer_tokens("").unwrap().is_empty());
        assert!(pointer_tokens("no-slash").is_err());
    }

    #[test]
    fn escaped_tokens_address_keys_with_slashes() {
        let mut doc = json!({"nodeSelector": {"a~b": "1"}});
        let path = pointer(["nodeSelector", "kubernetes.io/os"]);
        assert_eq!(path, "/nodeSelector/kubernetes.io~1os");
        apply(
            &mut doc,
            &[
                PatchOp::Add {
                    path,
                    value: json!("windows"),
                },
                PatchOp::Remove {
                    path: "/nodeSelector/a~0b".into(),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"nodeSelector": {"kubernetes.io/os": "windows"}})
        );
    }

    #[test]
    fn bad_paths_are_errors_not_panics() {
        let mut doc = json!({"a": [1, 2], "s": "x"});
        for path in ["a", "/missing/x", "/a/5", "/a/01", "/a/-1", "/a/+1", "/s/x"] {
            let op = PatchOp::Replace {
                path: path.into(),
                value: json!(0),
            };
            assert!(apply(&mut doc, &[op]).is_err(), "{path}");
        }
        assert!(apply(&mut doc, &[PatchOp::Remove { path: "".into() }]).is_err());
        assert!(
            apply(
                &mut json!({"a": []}),
                &[PatchOp::Remove {
                    path: "/a/0".into()
                }]
            )
            .is_err()
        );
    }

    #[test]
    fn diff_round_trips() {
        let from = json!({"a": 1, "b": {"c": [1, 2, 3], "d/e": "x"}, "gone": true});
        let to = json!({"a": 2, "b": {"c": [1, 5], "d/e": "x", "new": {"k": null}}});
        let ops = diff(&from, &to);
        let mut patched = from.clone();
        apply(&mut patched, &ops).unwrap();
        assert_eq!(patched, to);
        assert!(diff(&to, &to).is_empty());
        assert_eq!(
            diff(&json!({"s": {}}), &json!({"s": {"n": {"k": "v"}}})),
            vec![PatchOp::Add {
                path: "/s/n".into(),
                value: json!({"k": "v"})
            }]
        );
    }

    #[test]
    fn serialises_as_rfc6902() {
        let op = PatchOp::Add {
            path: "/a".into(),
            value: json!(1),
        };
        assert_eq!(
            serde_json::to_value(&op).unwrap(),
            json!({"op": "add", "path": "/a", "value": 1})
        );
    }
}
