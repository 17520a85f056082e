//! Alert entities and dedup keys from an event (and, for exposures, the joined objects).

use kdr_model::{
    ContainerEntity, Entities, IdentityEntity, IdentityKind, ObjectEntity, Payload, ProcessEntity,
    RuntimeAction, WorkloadEntity,
};
use kdr_rules::Input;

/// Longest command line kept in an alert; attacker-controlled, so bounded.
const MAX_COMMAND_LINE: usize = 4096;

/// What an alert is about, borrowed from the event and the objects joined to it: the parts of
/// its entities that identify the subject. Computed without allocating, so a repeat detection
/// finds its open alert cheaply; [`entities`] builds the full entities from it.
pub struct Subject<'a> {
    cluster: Option<&'a str>,
    namespace: Option<&'a str>,
    node: Option<&'a str>,
    pod: Option<&'a str>,
    /// Container ID and name, when either is known.
    container: Option<(Option<&'a str>, Option<&'a str>)>,
    /// Namespace and name of the exposing Service.
    service: Option<(&'a str, &'a str)>,
    /// Kind and name.
    workload: Option<(&'a str, &'a str)>,
    object: Option<ObjectSubject<'a>>,
    identity: Option<(&'a str, IdentitySource)>,
}

struct ObjectSubject<'a> {
    resource: &'a str,
    subresource: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
}

#[derive(Clone, Copy)]
enum IdentitySource {
    Kubernetes,
    LocalAccount,
    CloudPrincipal,
}

pub fn subject<'a>(input: &'a Input<'_>) -> Subject<'a> {
    let event = input.event;
    let context = &event.context;
    let mut subject = Subject {
        cluster: context.cluster.as_deref(),
        namespace: context.namespace.as_deref(),
        node: context.node.as_deref(),
        pod: context.pod.as_deref(),
        container: (context.container_id.is_some() || context.container_name.is_some()).then_some(
            (
                context.container_id.as_deref(),
                context.container_name.as_deref(),
            ),
        ),
        service: None,
        workload: None,
        object: None,
        identity: None,
    };
    match &event.payload {
        Payload::K8sAudit(audit) => {
            subject.identity = (!audit.user.username.is_empty())
                .then_some((audit.user.username.as_str(), IdentitySource::Kubernetes));
            if let Some(target) = &audit.object_ref {
                let name = if target.name.is_empty() {
                    input.object().map_or("", |o| o.name.as_str())
                } else {
                    target.name.as_str()
                };
                subject.object = Some(ObjectSubject {
                    resource: &target.resource,
                    subresource: &target.subresource,
                    namespace: (!target.namespace.is_empty()).then_some(target.namespace.as_str()),
                    name,
                });
            }
            if let Some(workload) = input.object().and_then(|o| o.workload.as_ref()) {
                subject.workload = Some((&workload.kind, &workload.name));
                if workload.kind == "Pod" && subject.pod.is_none() {
                    subject.pod = Some(&workload.name);
                }
            }
            if let Some(exposure) = input.exposure {
                subject.namespace = Some(&exposure.service.namespace);
                subject.service = Some((&exposure.service.namespace, &exposure.service.name));
                subject.workload = exposure
                    .workload
                    .as_ref()
                    .map(|w| (w.kind.as_str(), w.name.as_str()));
            }
        }
        Payload::Runtime(runtime) => {
            subject.identity = runtime
                .process
                .user
                .as_deref()
                .map(|user| (user, IdentitySource::LocalAccount));
        }
        Payload::Cloud(cloud) => {
            subject.identity = Some((&cloud.principal_id, IdentitySource::CloudPrincipal));
            subject.object = Some(ObjectSubject {
                resource: &cloud.operation,
                subresource: "",
                namespace: None,
                name: &cloud.resource_id,
            });
        }
    }
    subject
}

impl Subject<'_> {
    /// Appends the subject's key, most specific first: the same alert type on the same
    /// subject within the throttle window is one alert.
    pub fn write_key(&self, out: &mut String) {
        let ns = self.namespace.unwrap_or("");
        out.push_str(self.cluster.unwrap_or(""));
        out.push('|');
        let container_id = self.container.and_then(|(id, _)| id);
        // Pieces appended as they are: this runs for every detection, repeats included.
        if let Some((namespace, name)) = self.service {
            let workload = self.workload.map_or("", |(_, name)| name);
            out.extend(["service/", namespace, "/", name, "->", workload]);
        } else if let Some(id) = container_id {
            out.extend(["container/", id]);
        } else if let Some(pod) = self.pod {
            out.extend(["pod/", ns, "/", pod]);
        } else if let Some((kind, name)) = self.workload {
            out.extend(["workload/", ns, "/", kind, "/", name]);
        } else if let Some(object) = &self.object {
            out.extend(["object/", object.resource]);
            if !object.subresource.is_empty() {
                out.extend(["/", object.subresource]);
            }
            let namespace = object.namespace.unwrap_or("");
            out.extend(["/", namespace, "/", object.name]);
        } else if let Some((name, _)) = self.identity {
            out.extend(["identity/", name]);
        } else if let Some(node) = self.node {
            out.extend(["node/", node]);
        }
    }
}

pub fn entities(input: &Input<'_>) -> Entities {
    let event = input.event;
    let context = &event.context;
    let subject = subject(input);
    let owned = |s: Option<&str>| s.map(str::to_owned);
    let mut entities = Entities {
        cluster: owned(subject.cluster),
        namespace: owned(subject.namespace),
        node: owned(subject.node),
        pod: owned(subject.pod),
        source_ips: context.source_ips.clone(),
        container: subject.container.map(|(id, name)| ContainerEntity {
            id: owned(id),
            name: owned(name),
        }),
        service: subject
            .service
            .map(|(namespace, name)| format!("{namespace}/{name}")),
        workload: subject.workload.map(|(kind, name)| WorkloadEntity {
            kind: kind.to_owned(),
            name: name.to_owned(),
        }),
        object: subject.object.as_ref().map(|object| ObjectEntity {
            resource: if object.subresource.is_empty() {
                object.resource.to_owned()
            } else {
                format!("{}/{}", object.resource, object.subresource)
            },
            namespace: owned(object.namespace),
            name: object.name.to_owned(),
        }),
        identity: subject.identity.map(|(name, source)| match source {
            IdentitySource::Kubernetes => IdentityEntity::from_kube_username(name),
            IdentitySource::LocalAccount => IdentityEntity {
                name: name.to_owned(),
                kind: IdentityKind::LocalAccount,
            },
            IdentitySource::CloudPrincipal => IdentityEntity {
                name: name.to_owned(),
                kind: IdentityKind::CloudPrincipal,
            },
        }),
        ..Entities::default()
    };
    entities.images.extend(context.image.iter().cloned());
    match &event.payload {
        Payload::K8sAudit(_) => match input.exposure {
            Some(exposure) => {
                entities.images = exposure
                    .workload
                    .as_ref()
                    .map_or_else(Vec::new, |w| w.images.clone());
            }
            None => {
                if let Some(workload) = input.object().and_then(|o| o.workload.as_ref()) {
                    for image in &workload.images {
                        if !entities.images.contains(image) {
                            entities.images.push(image.clone());
                        }
                    }
                }
            }
        },
        Payload::Runtime(runtime) => {
            let process = &runtime.process;
            let parent = process.ancestors.first().map(|p| {
                Box::new(ProcessEntity {
                    pid: p.pid,
                    exe: p.exe.clone(),
                    command_line: bounded_join(&p.args),
                    user: None,
                    parent: None,
                })
            });
            entities.process = Some(ProcessEntity {
                pid: process.pid,
                exe: process.exe.clone(),
                command_line: bounded_join(&process.args),
                user: process.user.clone(),
                parent,
            });
            match &runtime.action {
                RuntimeAction::Open { path, .. }
                | RuntimeAction::Unlink { path }
                | RuntimeAction::Utimes { path }
                | RuntimeAction::Chmod { path, .. } => entities.files.push(path.clone()),
                RuntimeAction::Rename { from, to } => {
                    entities.files.push(from.clone());
                    entities.files.push(to.clone());
                }
                RuntimeAction::Exec => entities.files.push(process.exe.clone()),
                RuntimeAction::Connect { remote, .. } | RuntimeAction::Accept { remote, .. } => {
                    entities.remote_address = Some(if remote.port == 0 {
                        remote.address.clone()
                    } else {
                        format!("{}:{}", remote.address, remote.port)
                    });
                }
                _ => {}
            }
        }
        Payload::Cloud(_) => {}
    }
    entities
}

fn bounded_join(args: &[String]) -> String {
    let mut line = args.join(" ");
    if line.len() > MAX_COMMAND_LINE {
        let mut cut = MAX_COMMAND_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}
