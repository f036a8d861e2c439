//! What a rule is: a stable id, a doc line, a default action, and a check that turns a
//! workload into findings (field path, message, optional patch).

use crate::facts::gmsa::{CredentialSpec, credential_spec};
use crate::facts::host::HostCalls;
use crate::facts::images::{ContainerImage, known_images, looked_up, looks_up};
use crate::facts::nodes::{NodeInventory, ReadNodes, name_node_names};
use crate::facts::placement::Placement;
use crate::facts::target_os::OsResolution;
use crate::k8s::patch::PatchOp;
use crate::k8s::path::FieldPath;
use crate::k8s::request::JsonObject;
use crate::k8s::runtime_class::RuntimeClass;
use crate::k8s::workload::Workload;
pub use crate::settings::Action;
use crate::settings::Settings;
use crate::windows::image::WindowsBuild;
use crate::windows::linux_only::{LinuxOnlyField, linux_only_fields};
use serde_json::Value;
use std::cell::{OnceCell, RefCell};
use std::collections::BTreeSet;
use std::fmt;
use std::rc::Rc;

/// The pods a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliesTo {
    AllPods,
    WindowsPods,
    LinuxPods,
    LinuxOrUnknownPods,
    RuntimeClasses,
}

/// A rule's stable id (`OS-3`), never reused for another rule. Code names a rule by its
/// constant (`rules::id::IMG_1`), so a misspelt id does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(&'static str);

impl RuleId {
    pub const fn new(id: &'static str) -> RuleId {
        RuleId(id)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether `name` is this id as a Rust constant name (`OS_1` for `OS-1`).
    pub const fn is_named(self, name: &str) -> bool {
        let (id, name) = (self.0.as_bytes(), name.as_bytes());
        if id.len() != name.len() {
            return false;
        }
        let mut i = 0;
        while i < id.len() {
            let expected = if id[i] == b'-' { b'_' } else { id[i] };
            if name[i] != expected {
                return false;
            }
            i += 1;
        }
        true
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for RuleId {
    fn eq(&self, other: &String) -> bool {
        self.0 == other
    }
}

/// The static description of a rule, written once in its [`declare_rule!`]: what the
/// registry, the generated reference (`docs/rules.md`) and the settings forms
/// (`questions-ui.yml`) say of it.
#[derive(Debug)]
pub struct RuleMeta {
    pub id: RuleId,
    /// One line saying what the rule reports (the reference's tables, the forms' tooltips).
    /// The whole doc block is the rule type's `DOC`, which only the reference reads, so
    /// that it stays out of the modules.
    pub summary: &'static str,
    pub applies_to: AppliesTo,
    pub default_action: Action,
    pub can_mutate: bool,
    /// Where the constraint comes from (Kubernetes source, docs, issues).
    pub source: &'static str,
    /// The settings keys the rule reads, besides those every module reads
    /// (`settings::SHARED_KEYS`); a module accepts a key only when one of its rules reads it.
    pub settings: &'static [&'static str],
}

/// Declares a rule beside its code, once: its doc block (what it reports, why, an
/// example), id, one-line summary, the pods it applies to, default action, whether it can
/// mutate, where the constraint comes from and the settings keys it reads. Defines the
/// rule's unit struct (documented by the block), its `ID`, `DOC` (the block, in
/// Markdown) and `SETTINGS`, and the `META` that its [`Rule::meta`] returns. The catalogue (`rules/mod.rs`) lists the rule; the registry,
/// the reference and the settings forms are generated from the declarations.
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])+
        $rule:ident {
            id: $id:literal,
            summary: $summary:literal,
            applies_to: $applies_to:ident,
            default_action: $default_action:ident,
            can_mutate: $can_mutate:literal,
            source: $source:literal,
            settings: [$($setting:literal),* $(,)?] $(,)?
        }
    ) => {
        $(#[doc = $doc])+
        pub struct $rule;

        impl $rule {
            pub const ID: $crate::engine::rule::RuleId = $crate::engine::rule::RuleId::new($id);
            pub const DOC: &'static str = concat!($($doc, "\n"),+);
            pub const SETTINGS: &'static [&'static str] = &[$($setting),*];
        }

        static META: $crate::engine::rule::RuleMeta = $crate::engine::rule::RuleMeta {
            id: $rule::ID,
            summary: $summary,
            applies_to: $crate::engine::rule::AppliesTo::$applies_to,
            default_action: $crate::engine::rule::Action::$default_action,
            can_mutate: $can_mutate,
            source: $source,
            settings: $rule::SETTINGS,
        };
    };
}
pub(crate) use declare_rule;

/// Everything a rule may read about the request under review.
pub struct Context<'a> {
    /// The object under review, as received (patches are made against it); its tree
    /// is parsed only if a rule reads it.
    pub object: &'a JsonObject,
    pub workload: &'a Workload,
    pub os: &'a OsResolution<'a>,
    pub settings: &'a Settings,
    /// Host capabilities for rules that look things up (OCI registry, cluster).
    pub host: &'a dyn HostCalls,
    /// The rules of the module under evaluation: a rule may leave to another rule of
    /// the module what both could report (OS-2 leaves image conflicts to IMG-1).
    pub module_rules: &'a [&'a dyn Rule],
    /// What several rules derive from the workload, worked out once per pass: read it
    /// through [`Context::container_images`], [`Context::placement`] and
    /// [`Context::linux_only_fields`].
    pub facts: PassFacts<'a>,
    /// The cluster's nodes, read at most once per request (see [`Context::nodes`]).
    pub nodes: &'a ClusterNodes<'a>,
    /// What the admission request says beside the object.
    pub request: RequestFacts<'a>,
}

/// What an admission request says beside the object under review.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// The request's namespace (empty in a request is `None`).
    pub namespace: Option<&'a str>,
    /// On an UPDATE that changes a Pod's spec, the pod as it was (the old object's
    /// evaluation has none).
    pub old_pod: Option<&'a Workload>,
}

/// The cluster's nodes for one request (settings `nodeInventory`): read from the host
/// the first time a rule asks, then kept for every pass of the evaluation.
pub struct ClusterNodes<'a> {
    /// `None` when the module cannot read nodes or the settings do not ask it to.
    read: Option<ReadNodes>,
    host: &'a dyn HostCalls,
    inventory: OnceCell<Result<NodeInventory, String>>,
}

impl<'a> ClusterNodes<'a> {
    /// Nodes read through `read` from `host`, when the settings turn `nodeInventory` on.
    pub fn new(read: Option<ReadNodes>, settings: &Settings, host: &'a dyn HostCalls) -> Self {
        ClusterNodes {
            read: read.filter(|_| settings.node_inventory),
            host,
            inventory: OnceCell::new(),
        }
    }

    /// The inventory; `None` when it is off or could not be read (rules then decide
    /// from the settings, and [`ClusterNodes::failure`] says why).
    pub fn get(&self) -> Option<&NodeInventory> {
        let read = self.read?;
        self.inventory.get_or_init(|| read(self.host)).as_ref().ok()
    }

    /// Why reading the nodes failed, once a rule asked for them.
    pub fn failure(&self) -> Option<&str> {
        self.inventory.get()?.as_ref().err().map(String::as_str)
    }
}

/// Facts that several rules derive from the workload (the images of every container,
/// the pod's build pins and isolation, its Linux-only fields, the gMSA credential specs
/// it names), each worked out at most once per pass however many rules read it.
#[derive(Default)]
pub struct PassFacts<'a> {
    /// Without and with registry lookups.
    images: [OnceCell<Vec<ContainerImage<'a>>>; 2],
    placement: OnceCell<Placement>,
    linux_only: OnceCell<Vec<LinuxOnlyField>>,
    /// The credential specs read so far, by name (ID-3, ID-5 and ID-6 read the same).
    credential_specs: RefCell<Vec<(&'a str, Rc<CredentialSpec>)>>,
}

impl<'a> PassFacts<'a> {
    /// Facts that start with the images as the OS resolution read them
    /// ([`known_images`]), so that no image is parsed twice in a pass.
    pub fn with_known_images(images: Vec<ContainerImage<'a>>) -> Self {
        PassFacts {
            images: [OnceCell::from(images), OnceCell::new()],
            ..Default::default()
        }
    }
}

impl<'a> Context<'a> {
    /// The images of every container (see [`known_images`]); with `lookup`, those the
    /// reference and mappings do not tell are looked up ([`looked_up`]) when
    /// `imageLookup.enabled` ([`looks_up`]).
    pub fn container_images(&self, lookup: bool) -> &[ContainerImage<'a>] {
        let known = self.facts.images[0].get_or_init(|| known_images(self.workload, self.settings));
        if !looks_up(self.settings, lookup) {
            return known;
        }
        self.facts.images[1].get_or_init(|| looked_up(known, self.host))
    }

    /// The pod's Windows build pins and isolation (see [`Placement::of`]).
    pub fn placement(&self) -> &Placement {
        self.facts
            .placement
            .get_or_init(|| Placement::of(self.workload, self.settings))
    }

    /// Every Linux-only field the pod sets (see [`linux_only_fields`]).
    pub fn linux_only_fields(&self) -> &[LinuxOnlyField] {
        self.facts
            .linux_only
            .get_or_init(|| linux_only_fields(self.workload))
    }
    /// The cluster's nodes, when `nodeInventory` is on and they could be read.
    pub fn nodes(&self) -> Option<&NodeInventory> {
        self.nodes.get()
    }

    /// The Windows builds of the cluster's nodes, and where that comes from:
    /// `clusterWindowsBuilds` where the settings give it (they win), else the Windows
    /// nodes' builds (`nodeInventory`), else `None` (unknown).
    pub fn cluster_windows_builds(&self) -> Option<ClusterBuilds> {
        if !self.settings.cluster_windows_builds.is_empty() {
            let builds: BTreeSet<WindowsBuild> = self
                .settings
                .cluster_windows_builds
                .iter()
                .copied()
                .collect();
            let listed: Vec<String> = builds.iter().map(ToString::to_string).collect();
            let source = format!("settings.clusterWindowsBuilds: {}", listed.join(" or "));
            return Some(ClusterBuilds { builds, source });
        }
        let by_build = self.nodes()?.windows_builds();
        if by_build.is_empty() {
            return None;
        }
        let source = by_build
            .iter()
            .map(|(build, nodes)| format!("{} on {}", build, name_node_names(nodes)))
            .collect::<Vec<_>>()
            .join("; ");
        Some(ClusterBuilds {
            builds: by_build.into_keys().collect(),
            source: format!("the Windows nodes: {source}"),
        })
    }

    /// GMSACredentialSpec `name` as the cluster answers for it (see [`credential_spec`]),
    /// read and decoded once per pass.
    pub fn credential_spec(&self, name: &'a str) -> Rc<CredentialSpec> {
        let mut known = self.facts.credential_specs.borrow_mut();
        if let Some((_, spec)) = known.iter().find(|(n, _)| *n == name) {
            return Rc::clone(spec);
        }
        let spec = Rc::new(credential_spec(self.host, name));
        known.push((name, Rc::clone(&spec)));
        spec
    }

    /// The namespace of the object under review: the request's, else the object's
    /// `metadata.namespace` (the API server sets both alike before admission:
    /// `EnsureObjectNamespaceMatchesRequestNamespace` in
    /// `staging/src/k8s.io/apiserver/pkg/registry/rest/create.go`).
    pub fn namespace(&self) -> Option<&str> {
        self.request
            .namespace
            .filter(|n| !n.is_empty())
            .or_else(|| {
                self.object
                    .value()
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
            })
    }

    /// Whether the module runs the rule `id` (it carries it and its action is not `off`).
    pub fn runs(&self, id: RuleId) -> bool {
        self.module_rules
            .iter()
            .any(|r| r.meta().id == id && self.settings.action_of(*r) != Action::Off)
    }
}

/// The Windows builds of the cluster, with where they were learnt (for messages).
pub struct ClusterBuilds {
    pub builds: BTreeSet<WindowsBuild>,
    /// `settings.clusterWindowsBuilds: ...` or `the Windows nodes: <build> on <nodes>`.
    pub source: String,
}

/// Everything a RuntimeClass rule may read about a RuntimeClass object under review.
pub struct RuntimeClassContext<'a> {
    /// The original object, as received.
    pub object: &'a Value,
    /// The object, decoded once.
    pub runtime_class: &'a RuntimeClass,
    pub settings: &'a Settings,
    pub host: &'a dyn HostCalls,
    /// The cluster's nodes, read at most once per request.
    pub nodes: &'a ClusterNodes<'a>,
}

/// One violation (or proposed fix) of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: RuleId,
    pub path: FieldPath,
    pub message: String,
    /// The patch that fixes it, against the original object; empty when the rule cannot fix it.
    pub patch: Vec<PatchOp>,
    /// Advisory: the finding never rejects; under the rule's `reject` action it warns
    /// (WIN-7's nfs volumes, WIN-9's subPath).
    pub advisory: bool,
    /// The settings opted in to this fix explicitly (WIN-6 `stripLinuxNoOps`): its patch
    /// is applied whatever the rule's action, unless the rule is off.
    pub opted_in_fix: bool,
}

impl Finding {
    pub fn new(rule: RuleId, path: FieldPath, message: impl Into<String>) -> Self {
        Finding {
            rule,
            path,
            message: message.into(),
            patch: Vec::new(),
            advisory: false,
            opted_in_fix: false,
        }
    }

    pub fn with_patch(mut self, patch: Vec<PatchOp>) -> Self {
        self.patch = patch;
        self
    }

    /// Marks the finding advisory: it warns where its rule would reject.
    pub fn advisory(mut self) -> Self {
        self.advisory = true;
        self
    }

    /// A patch the settings opted in to: applied under any action but `off`.
    pub fn with_opted_in_patch(mut self, patch: Vec<PatchOp>) -> Self {
        self.patch = patch;
        self.opted_in_fix = true;
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_root() {
            return write!(f, "[{}] {}", self.rule, self.message);
        }
        write!(f, "[{}] {}: {}", self.rule, self.path, self.message)
    }
}

/// A rule of the catalogue. Implementations are unit structs listed in the registry.
pub trait Rule: Sync {
    fn meta(&self) -> &'static RuleMeta;

    /// Appends this rule's findings for the workload; called only for the pods the rule
    /// applies to (see `RuleMeta::applies_to`).
    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>);

    /// Appends this rule's findings for a RuntimeClass object; called only for rules that
    /// apply to `AppliesTo::RuntimeClasses`. Workload rules keep this default.
    fn check_runtime_class(&self, _ctx: &RuntimeClassContext<'_>, _findings: &mut Vec<Finding>) {}
}
