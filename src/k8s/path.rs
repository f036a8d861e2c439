//! Field paths: one value gives both the path people read in messages
//! (`spec.template.spec.containers[1].securityContext.privileged`, map keys as
//! `nodeSelector[kubernetes.io/os]`, as Kubernetes' own field errors write them) and the
//! JSON pointer a patch uses (`/spec/template/spec/containers/1/securityContext/privileged`).

use crate::k8s::first_seen::FirstSeen;
use crate::k8s::patch::escape_token;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Segment {
    /// A field of an object with a schema (`spec`, `containers`).
    Field(&'static str),
    /// An element of a list.
    Index(usize),
    /// A key of a free-form map (`nodeSelector`, `labels`).
    Key(String),
}

/// The location of a field in the request object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Whether this is the object itself (a finding about no one field).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn from_fields(fields: &[&'static str]) -> Self {
        FieldPath(fields.iter().map(|f| Segment::Field(f)).collect())
    }

    pub fn field(&self, name: &'static str) -> Self {
        self.with(Segment::Field(name))
    }

    pub fn index(&self, index: usize) -> Self {
        self.with(Segment::Index(index))
    }

    pub fn key(&self, key: &str) -> Self {
        self.with(Segment::Key(key.to_string()))
    }

    fn with(&self, segment: Segment) -> Self {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend_from_slice(&self.0);
        segments.push(segment);
        FieldPath(segments)
    }

    /// The JSON pointer (RFC 6901) of this field.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for segment in &self.0 {
            out.push('/');
            match segment {
                Segment::Field(name) => out.push_str(&escape_token(name)),
                Segment::Index(i) => out.push_str(&i.to_string()),
                Segment::Key(key) => out.push_str(&escape_token(key)),
            }
        }
        out
    }

    /// The pointer of the end of this list, for appending (`.../tolerations/-`).
    pub fn append_pointer(&self) -> String {
        format!("{}/-", self.pointer())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plain writes, not `write!`: a path is rendered for every finding.
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(name) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Segment::Index(index) => {
                    f.write_str("[")?;
                    write_decimal(f, *index)?;
                    f.write_str("]")?;
                }
                Segment::Key(key) => {
                    f.write_str("[")?;
                    f.write_str(key)?;
                    f.write_str("]")?;
                }
            }
        }
        Ok(())
    }
}

/// `n` in decimal digits, whatever the formatter's width or fill: they apply to the
/// whole path, not to an index inside it.
fn write_decimal(f: &mut fmt::Formatter<'_>, mut n: usize) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    f.write_str(std::str::from_utf8(&digits[start..]).unwrap_or_default())
}

/// Groups `(path, item)` pairs by path, in the order each path is first seen, in linear
/// time: containers that inherit one pod-level value share its path, and a pod may have
/// thousands of containers.
pub fn group_by_path<T>(
    pairs: impl IntoIterator<Item = (FieldPath, T)>,
) -> Vec<(FieldPath, Vec<T>)> {
    let mut groups: Vec<(FieldPath, Vec<T>)> = Vec::new();
    let mut index: FirstSeen<FieldPath, usize> = FirstSeen::default();
    for (path, item) in pairs {
        match index.get(&path) {
            Some(&i) => groups[i].1.push(item),
            None => {
                index.insert(path.clone(), groups.len());
                groups.push((path, vec![item]));
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_path_in_first_seen_order() {
        let pod = FieldPath::from_fields(&["spec", "securityContext"]);
        let own = FieldPath::from_fields(&["spec", "containers"]).index(1);
        let groups = group_by_path([(pod.clone(), "a"), (own.clone(), "b"), (pod.clone(), "c")]);
        assert_eq!(groups, vec![(pod, vec!["a", "c"]), (own, vec!["b"])]);
        assert!(group_by_path(Vec::<(FieldPath, ())>::new()).is_empty());
    }

    #[test]
    fn renders_message_path_and_pointer() {
        let path = FieldPath::from_fields(&["spec", "template", "spec"])
            .field("containers")
            .index(1)
            .field("securityContext")
            .field("privileged");
        assert_eq!(
            path.to_string(),
            "spec.template.spec.containers[1].securityContext.privileged"
        );
        assert_eq!(
            path.pointer(),
            "/spec/template/spec/containers/1/securityContext/privileged"
        );
        let selector = FieldPath::from_fields(&["spec", "nodeSelector"]).key("kubernetes.io/os");
        assert_eq!(selector.to_string(), "spec.nodeSelector[kubernetes.io/os]");
        let tenth = FieldPath::from_fields(&["spec", "containers"])
            .index(10)
            .index(0);
        assert_eq!(tenth.to_string(), "spec.containers[10][0]");
        assert_eq!(
            FieldPath::root().index(usize::MAX).to_string(),
            format!("[{}]", usize::MAX)
        );
        assert_eq!(selector.pointer(), "/spec/nodeSelector/kubernetes.io~1os");
        assert_eq!(
            FieldPath::from_fields(&["spec", "tolerations"]).append_pointer(),
            "/spec/tolerations/-"
        );
    }
}
