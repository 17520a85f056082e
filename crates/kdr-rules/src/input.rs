//! What a rule looks at: one event plus lazily computed views of it. Each view (the parsed
//! Kubernetes object, the joined command line, ...) is built at most once per event and only
//! when some rule asks for it; so is each test's result (kept in a reusable [`Scratch`]).
//!
//! [`Scratch`]: crate::memo::Scratch

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use kdr_model::{Event, Payload, RuntimeEvent};

use crate::compile::{Slot, Tri};
use crate::fields::{Field, FieldArg, Val};
use crate::k8s::{ObjectFacts, ServiceFacts, WorkloadFacts};
use crate::memo::{Candidates, Found, Memo, Scratch};
use crate::triggers::RuleBits;

/// A LoadBalancer Service joined with one workload it selects, synthesized by the engine's
/// inventory (source `exposure`).
#[derive(Clone, Debug)]
pub struct Exposure {
    pub service: Arc<ServiceFacts>,
    /// The selected workload; `None` when the inventory knows no workload the Service selects
    /// (it may predate kdr), so Service-only rules still see the Service.
    pub workload: Option<Arc<WorkloadFacts>>,
    /// Contents of the ConfigMaps the workload mounts (e.g. a pg_hba.conf).
    pub config_data: Vec<String>,
    /// Names of the mounted ConfigMaps the inventory knows.
    pub config_maps: Vec<String>,
    /// pg_hba records in those ConfigMaps that trust remote clients.
    pub pg_hba_trust: Vec<String>,
    /// Every namespace the inventory knows of in this cluster.
    pub namespaces: Vec<String>,
    /// Re-evaluated because the cluster changed around it (a new namespace), not because the
    /// Service or workload changed: rules that already fired on this pair stay quiet.
    pub rescan: bool,
}

impl Exposure {
    /// Identifies the Service-workload pair.
    pub fn pair_key(&self) -> String {
        let workload = self
            .workload
            .as_ref()
            .map_or(String::new(), |w| format!("{}/{}", w.kind, w.name));
        format!(
            "{}/{}->{}",
            self.service.namespace, self.service.name, workload
        )
    }
}

pub struct Input<'a> {
    pub event: &'a Event,
    pub exposure: Option<&'a Exposure>,
    memo: Memo<'a>,
    facts: OnceCell<Option<ObjectFacts>>,
    cmdline: OnceCell<String>,
    args: OnceCell<String>,
    parent_cmdline: OnceCell<String>,
    ancestor_names: OnceCell<Vec<String>>,
    ancestor_paths: OnceCell<Vec<String>>,
    ancestor_all_names: OnceCell<Vec<&'a str>>,
    names: OnceCell<[&'a str; 3]>,
    namespace_flags: OnceCell<Vec<String>>,
}

impl<'a> Input<'a> {
    /// `scratch` comes from the rules that will be evaluated ([`Rules::scratch`]); the input
    /// holds it, cleared, until it is dropped.
    ///
    /// [`Rules::scratch`]: crate::Rules::scratch
    pub fn new(event: &'a Event, scratch: &'a mut Scratch) -> Self {
        Input {
            event,
            exposure: None,
            memo: scratch.begin(event),
            facts: OnceCell::new(),
            cmdline: OnceCell::new(),
            args: OnceCell::new(),
            parent_cmdline: OnceCell::new(),
            ancestor_names: OnceCell::new(),
            ancestor_paths: OnceCell::new(),
            ancestor_all_names: OnceCell::new(),
            names: OnceCell::new(),
            namespace_flags: OnceCell::new(),
        }
    }

    pub fn with_exposure(
        event: &'a Event,
        exposure: &'a Exposure,
        scratch: &'a mut Scratch,
    ) -> Self {
        Input {
            exposure: Some(exposure),
            ..Input::new(event, scratch)
        }
    }

    /// The result of the test or macro in `slot` for this event, computed on first use.
    #[inline(always)]
    pub(crate) fn memoized(&self, slot: Slot, compute: impl FnOnce() -> Tri) -> Tri {
        self.memo.memoized(slot, compute)
    }

    /// Whether the names in a name field belong to `class` (any of them, or with `all`, every
    /// one); unknown when the event lacks the field.
    #[inline(always)]
    pub(crate) fn in_name_class(&self, field: Field, class: u32, all: bool) -> Tri {
        self.memo
            .in_name_class(field, class, all, |field, fold| self.names_of(field, fold))
    }

    /// Calls `f` with every class some name of name field `field` (an index into
    /// [`NAME_FIELDS`](crate::names::NAME_FIELDS)) is in.
    pub(crate) fn for_each_name_class(&self, field: usize, f: impl FnMut(usize)) {
        self.memo
            .for_each_name_class(field, |field, fold| self.names_of(field, fold), f)
    }

    /// Calls `fold` on each name of a name field; false when the event lacks the field.
    fn names_of(&self, field: Field, fold: &mut dyn FnMut(&str)) -> bool {
        match field.extract(&FieldArg::None, self) {
            // Blank names stand for duplicates: they do not count.
            Val::Names(list) => list.iter().filter(|n| !n.is_empty()).for_each(|n| fold(n)),
            Val::StrRefs(list) => list.iter().for_each(|n| fold(n)),
            Val::Strs(list) => list.iter().for_each(|n| fold(n)),
            Val::Missing => return false,
            _ => {}
        }
        true
    }

    /// The rules this event's program visits for its type, once worked out (by
    /// [`Rules::runtime_candidates`](crate::Rules::runtime_candidates)).
    pub(crate) fn program_candidates(&self) -> &std::cell::RefCell<Candidates> {
        self.memo.candidates
    }

    /// The rules this event's program visits for its type and those it does not rule out
    /// among the per-event triggered, when an earlier event of the program worked them out.
    pub(crate) fn kept_candidates(&self) -> Option<&(RuleBits, RuleBits)> {
        self.memo.kept_candidates
    }

    /// Names this runtime event's program (event type and process without pids, compared
    /// exactly) for as long as the scratch lives: what only [process-only
    /// fields](Field::reads_process_only) decide can be remembered under it.
    pub fn program(&self) -> Option<u64> {
        self.memo.program
    }

    /// Which patterns of a shared scan this event's field holds, searched on first use; `None`
    /// when the event lacks the field.
    pub(crate) fn scanned(&self, scan: u32) -> Option<Found<'_>> {
        self.memo
            .scanned(scan, |field, arg| match field.extract(arg, self) {
                Val::Str(text) => Some(text),
                _ => None,
            })
    }

    /// The Kubernetes object this audit event leaves behind, parsed once.
    pub fn object(&self) -> Option<&ObjectFacts> {
        self.facts
            .get_or_init(|| match &self.event.payload {
                Payload::K8sAudit(audit) => ObjectFacts::of_audit(audit),
                _ => None,
            })
            .as_ref()
    }

    pub fn runtime(&self) -> Option<&'a RuntimeEvent> {
        match &self.event.payload {
            Payload::Runtime(runtime) => Some(runtime),
            _ => None,
        }
    }

    pub(crate) fn cmdline(&self, runtime: &RuntimeEvent) -> &str {
        self.cmdline.get_or_init(|| runtime.process.args.join(" "))
    }

    pub(crate) fn args(&self, runtime: &RuntimeEvent) -> &str {
        self.args
            .get_or_init(|| runtime.process.args.get(1..).unwrap_or(&[]).join(" "))
    }

    pub(crate) fn parent_cmdline(&self, runtime: &RuntimeEvent) -> Option<&str> {
        let parent = runtime.process.ancestors.first()?;
        Some(self.parent_cmdline.get_or_init(|| parent.args.join(" ")))
    }

    pub(crate) fn ancestor_names(&self, runtime: &RuntimeEvent) -> &[String] {
        self.ancestor_names.get_or_init(|| {
            runtime
                .process
                .ancestors
                .iter()
                .map(|a| basename(&a.exe).to_owned())
                .collect()
        })
    }

    pub(crate) fn ancestor_paths(&self, runtime: &RuntimeEvent) -> &[String] {
        self.ancestor_paths.get_or_init(|| {
            runtime
                .process
                .ancestors
                .iter()
                .map(|a| a.exe.clone())
                .collect()
        })
    }

    /// Executable file name and argv[0] file name of every ancestor, parent first.
    pub(crate) fn ancestor_all_names(&self, runtime: &'a RuntimeEvent) -> &[&'a str] {
        self.ancestor_all_names.get_or_init(|| {
            let mut names = Vec::with_capacity(runtime.process.ancestors.len() * 2);
            for ancestor in runtime.process.ancestors.iter() {
                let exe = basename(&ancestor.exe);
                names.push(exe);
                if let Some(argv0) = ancestor.args.first() {
                    let argv0 = basename(argv0);
                    if argv0 != exe {
                        names.push(argv0);
                    }
                }
            }
            names
        })
    }

    /// The process's executable file name, argv[0] file name and comm, computed once.
    pub fn process_names(&self, runtime: &'a RuntimeEvent) -> [&'a str; 3] {
        *self.names.get_or_init(|| {
            let process = &runtime.process;
            let exe = crate::fields::process_name(process);
            let argv0 = process.args.first().map_or("", |a| basename(a));
            // Duplicates are blanked so a test looks at each name once.
            let argv0 = if argv0 == exe { "" } else { argv0 };
            let comm = process.comm.as_str();
            let comm = if comm == exe || comm == argv0 {
                ""
            } else {
                comm
            };
            [exe, argv0, comm]
        })
    }

    pub(crate) fn namespace_flags(&self, flags: u64) -> &[String] {
        self.namespace_flags.get_or_init(|| {
            CLONE_NEW_FLAGS
                .iter()
                .filter(|(bit, _)| flags & bit != 0)
                .map(|(_, name)| (*name).to_owned())
                .collect()
        })
    }
}

/// The CLONE_NEW* namespace flags of clone(2)/unshare(2)/setns(2).
const CLONE_NEW_FLAGS: [(u64, &str); 8] = [
    (0x0000_0080, "CLONE_NEWTIME"),
    (0x0002_0000, "CLONE_NEWNS"),
    (0x0200_0000, "CLONE_NEWCGROUP"),
    (0x0400_0000, "CLONE_NEWUTS"),
    (0x0800_0000, "CLONE_NEWIPC"),
    (0x1000_0000, "CLONE_NEWUSER"),
    (0x2000_0000, "CLONE_NEWPID"),
    (0x4000_0000, "CLONE_NEWNET"),
];

/// Position of the last `/`; a byte loop, as paths and names are short.
fn last_slash(path: &str) -> Option<usize> {
    path.bytes().rposition(|b| b == b'/')
}

pub fn basename(path: &str) -> &str {
    last_slash(path).map_or(path, |i| &path[i + 1..])
}

pub(crate) fn dirname(path: &str) -> &str {
    match last_slash(path) {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// Values of env entries named `name` among `NAME=value` strings.
pub(crate) fn env_values(env: &[String], name: &str) -> Vec<String> {
    env.iter()
        .filter_map(|entry| entry.split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .collect()
}

pub(crate) fn label_value<'m>(labels: &'m BTreeMap<String, String>, key: &str) -> Option<&'m str> {
    labels.get(key).map(String::as_str)
}
