//! Alert entities and dedup keys from an event (and, for exposures, the joined objects).

use kdr_model::{
    ContainerEntity, Entities, IdentityEntity, IdentityKind, ObjectEntity, Payload, ProcessEntity,
    RuntimeAction, WorkloadEntity,
};
use kdr_rules::Input;

/// Longest command line kept in an alert; attacker-controlled, so bounded.
const MAX_COMMAND_LINE: usize = 4096;

pub fn entities(input: &Input<'_>) -> Entities {
    let event = input.event;
    let context = &event.context;
    let mut entities = Entities {
        cluster: context.cluster.clone(),
        namespace: context.namespace.clone(),
        node: context.node.clone(),
        pod: context.pod.clone(),
        source_ips: context.source_ips.clone(),
        ..Entities::default()
    };
    if context.container_id.is_some() || context.container_name.is_some() {
        entities.container = Some(ContainerEntity {
            id: context.container_id.clone(),
            name: context.container_name.clone(),
        });
    }
    entities.images.extend(context.image.iter().cloned());
    match &event.payload {
        Payload::K8sAudit(audit) => {
            entities.identity = (!audit.user.username.is_empty())
                .then(|| IdentityEntity::from_kube_username(&audit.user.username));
            if let Some(target) = &audit.object_ref {
                let name = if target.name.is_empty() {
                    input.object().map(|o| o.name.clone()).unwrap_or_default()
                } else {
                    target.name.clone()
                };
                entities.object = Some(ObjectEntity {
                    resource: if target.subresource.is_empty() {
                        target.resource.clone()
                    } else {
                        format!("{}/{}", target.resource, target.subresource)
                    },
                    namespace: (!target.namespace.is_empty()).then(|| target.namespace.clone()),
                    name,
                });
            }
            if let Some(workload) = input.object().and_then(|o| o.workload.as_ref()) {
                entities.workload = Some(WorkloadEntity {
                    kind: workload.kind.clone(),
                    name: workload.name.clone(),
                });
                if workload.kind == "Pod" && entities.pod.is_none() {
                    entities.pod = Some(workload.name.clone());
                }
                for image in &workload.images {
                    if !entities.images.contains(image) {
                        entities.images.push(image.clone());
                    }
                }
            }
            if let Some(exposure) = input.exposure {
                entities.namespace = Some(exposure.service.namespace.clone());
                entities.service = Some(format!(
                    "{}/{}",
                    exposure.service.namespace, exposure.service.name
                ));
                entities.workload = exposure.workload.as_ref().map(|w| WorkloadEntity {
                    kind: w.kind.clone(),
                    name: w.name.clone(),
                });
                entities.images = exposure
                    .workload
                    .as_ref()
                    .map_or_else(Vec::new, |w| w.images.clone());
            }
        }
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
            entities.identity = process.user.as_ref().map(|user| IdentityEntity {
                name: user.clone(),
                kind: IdentityKind::LocalAccount,
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
        Payload::Cloud(cloud) => {
            entities.identity = Some(IdentityEntity {
                name: cloud.principal_id.clone(),
                kind: IdentityKind::CloudPrincipal,
            });
            entities.object = Some(ObjectEntity {
                resource: cloud.operation.clone(),
                namespace: None,
                name: cloud.resource_id.clone(),
            });
        }
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

/// What an alert is about, most specific first: the same alert type on the same subject
/// within the throttle window is one alert.
pub fn subject_key(entities: &Entities) -> String {
    let cluster = entities.cluster.as_deref().unwrap_or("");
    let ns = entities.namespace.as_deref().unwrap_or("");
    let subject = if let Some(service) = &entities.service {
        let workload = entities.workload.as_ref().map_or("", |w| w.name.as_str());
        format!("service/{service}->{workload}")
    } else if let Some(id) = entities.container.as_ref().and_then(|c| c.id.as_deref()) {
        format!("container/{id}")
    } else if let Some(pod) = &entities.pod {
        format!("pod/{ns}/{pod}")
    } else if let Some(workload) = &entities.workload {
        format!("workload/{ns}/{}/{}", workload.kind, workload.name)
    } else if let Some(object) = &entities.object {
        format!(
            "object/{}/{}/{}",
            object.resource,
            object.namespace.as_deref().unwrap_or(""),
            object.name
        )
    } else if let Some(identity) = &entities.identity {
        format!("identity/{}", identity.name)
    } else if let Some(node) = &entities.node {
        format!("node/{node}")
    } else {
        String::new()
    };
    format!("{cluster}|{subject}")
}
