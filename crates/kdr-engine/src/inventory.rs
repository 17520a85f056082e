//! The cluster inventory: workloads, Services, ConfigMaps and namespaces as the audit stream
//! declares them. It joins a LoadBalancer Service with the workloads it selects, whichever
//! arrives first, and yields one [`Exposure`] per pair whose facts changed.

use std::collections::BTreeSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use kdr_model::{KubeAudit, Payload};
use kdr_rules::k8s::{ServiceFacts, WorkloadFacts};
use kdr_rules::{Exposure, Input};

/// Resources whose bodies the inventory reads.
pub const INVENTORY_RESOURCES: [&str; 11] = [
    "pods",
    "deployments",
    "daemonsets",
    "statefulsets",
    "replicasets",
    "replicationcontrollers",
    "jobs",
    "cronjobs",
    "services",
    "configmaps",
    "namespaces",
];

/// Objects kept per cluster before new ones are refused (and counted).
const MAX_OBJECTS_PER_CLUSTER: usize = 500_000;

type NsName = (String, String);
type WorkloadKey = (String, String, String);

#[derive(Debug, Default)]
struct ClusterInventory {
    namespaces: BTreeSet<String>,
    workloads: FxHashMap<WorkloadKey, Arc<WorkloadFacts>>,
    services: FxHashMap<NsName, Arc<ServiceFacts>>,
    config_maps: FxHashMap<NsName, Vec<String>>,
}

impl ClusterInventory {
    fn size(&self) -> usize {
        self.namespaces.len() + self.workloads.len() + self.services.len() + self.config_maps.len()
    }

    fn exposure(
        &self,
        service: &Arc<ServiceFacts>,
        workload: Option<&Arc<WorkloadFacts>>,
        rescan: bool,
    ) -> Exposure {
        let mut config_maps = Vec::new();
        let mut config_data = Vec::new();
        if let Some(w) = workload {
            for name in &w.config_map_volumes {
                if let Some(values) = self.config_maps.get(&(w.namespace.clone(), name.clone())) {
                    config_maps.push(name.clone());
                    config_data.extend(values.iter().cloned());
                }
            }
        }
        let pg_hba_trust = config_data
            .iter()
            .flat_map(|text| kdr_rules::k8s::pg_hba_remote_trust(text))
            .collect();
        Exposure {
            service: service.clone(),
            workload: workload.cloned(),
            config_data,
            config_maps,
            pg_hba_trust,
            namespaces: self.namespaces.iter().cloned().collect(),
            rescan,
        }
    }

    /// A LoadBalancer Service joined with every workload it selects, or alone when it selects
    /// none the inventory knows.
    fn service_exposures(
        &self,
        service: &Arc<ServiceFacts>,
        rescan: bool,
        out: &mut Vec<Exposure>,
    ) {
        if service.service_type != "LoadBalancer" {
            return;
        }
        let before = out.len();
        for workload in self.workloads.values() {
            if workload.namespace == service.namespace
                && workload.selected_by(&service.selector_map)
            {
                out.push(self.exposure(service, Some(workload), rescan));
            }
        }
        if out.len() == before {
            out.push(self.exposure(service, None, rescan));
        }
    }

    /// Every exposure in the cluster, after a change that may alter cluster-wide facts.
    fn rescan(&self, out: &mut Vec<Exposure>) {
        for service in self.services.values() {
            self.service_exposures(service, true, out);
        }
    }

    fn load_balancers_selecting<'a>(
        &'a self,
        workload: &'a WorkloadFacts,
    ) -> impl Iterator<Item = &'a Arc<ServiceFacts>> + 'a {
        self.services.values().filter(move |svc| {
            svc.service_type == "LoadBalancer"
                && svc.namespace == workload.namespace
                && workload.selected_by(&svc.selector_map)
        })
    }
}

#[derive(Debug, Default)]
pub struct Inventory {
    clusters: FxHashMap<String, ClusterInventory>,
    /// Objects not stored because a cluster's inventory was full.
    pub refused: u64,
}

impl Inventory {
    /// Applies one audit event. `facts` is the object it leaves behind, when the event has a
    /// body. Returns the Service-workload pairs this event created or changed.
    pub fn apply(&mut self, input: &Input<'_>) -> Vec<Exposure> {
        let event = input.event;
        let Payload::K8sAudit(audit) = &event.payload else {
            return Vec::new();
        };
        // Only requests the API server carried out change the cluster; subresources (status,
        // binding, scale) do not change what a workload or Service declares.
        if !succeeded(audit) {
            return Vec::new();
        }
        let Some(target) = audit
            .object_ref
            .as_ref()
            .filter(|t| t.subresource.is_empty())
        else {
            return Vec::new();
        };
        let cluster_name = event.context.cluster.as_deref().unwrap_or("");
        if !self.clusters.contains_key(cluster_name) {
            self.clusters
                .insert(cluster_name.to_owned(), ClusterInventory::default());
        }
        let Some(cluster) = self.clusters.get_mut(cluster_name) else {
            return Vec::new();
        };
        let full = cluster.size() >= MAX_OBJECTS_PER_CLUSTER;
        let mut exposures = Vec::new();
        if !target.namespace.is_empty() && !full && !cluster.namespaces.contains(&target.namespace)
        {
            cluster.namespaces.insert(target.namespace.clone());
            cluster.rescan(&mut exposures);
        }
        match audit.verb.as_str() {
            "delete" => {
                let ns = target.namespace.clone();
                let name = target.name.clone();
                match target.resource.as_str() {
                    "services" => {
                        cluster.services.remove(&(ns, name));
                    }
                    "configmaps" => {
                        cluster.config_maps.remove(&(ns, name));
                    }
                    "namespaces" => {
                        cluster.namespaces.remove(&name);
                    }
                    resource => {
                        cluster.workloads.remove(&(ns, resource.to_owned(), name));
                    }
                }
            }
            "create" | "update" | "patch" => {
                let Some(facts) = input.object() else {
                    return exposures;
                };
                if full {
                    self.refused += 1;
                    return exposures;
                }
                let ns = if facts.namespace.is_empty() {
                    target.namespace.clone()
                } else {
                    facts.namespace.clone()
                };
                if target.resource == "namespaces" {
                    if cluster.namespaces.insert(facts.name.clone()) {
                        cluster.rescan(&mut exposures);
                    }
                } else if let Some(workload) = &facts.workload {
                    // Controller-made copies (a Deployment's ReplicaSets and pods) would
                    // repeat what their owner already declared.
                    if facts.owned {
                        return exposures;
                    }
                    let mut workload = workload.clone();
                    workload.namespace = ns.clone();
                    let workload = Arc::new(workload);
                    cluster.workloads.insert(
                        (ns, target.resource.clone(), workload.name.clone()),
                        workload.clone(),
                    );
                    for svc in cluster.load_balancers_selecting(&workload) {
                        exposures.push(cluster.exposure(svc, Some(&workload), false));
                    }
                } else if let Some(service) = &facts.service {
                    let mut service = service.clone();
                    service.namespace = ns.clone();
                    let service = Arc::new(service);
                    cluster
                        .services
                        .insert((ns, service.name.clone()), service.clone());
                    cluster.service_exposures(&service, false, &mut exposures);
                } else if let Some(config_map) = &facts.config_map {
                    cluster
                        .config_maps
                        .insert((ns.clone(), facts.name.clone()), config_map.values.clone());
                    for workload in cluster.workloads.values() {
                        if workload.namespace == ns
                            && workload.config_map_volumes.contains(&facts.name)
                        {
                            for svc in cluster.load_balancers_selecting(workload) {
                                exposures.push(cluster.exposure(svc, Some(workload), false));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        exposures
    }

    pub fn object_count(&self) -> usize {
        self.clusters.values().map(ClusterInventory::size).sum()
    }
}

fn succeeded(audit: &KubeAudit) -> bool {
    audit
        .response_code
        .is_some_and(|code| (200..300).contains(&code))
}
