//! The actions: isolate, release, terminate. Each is idempotent and returns an outcome,
//! never an error: failures are in the outcome with their reason.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{
    DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
};
use kube::core::Resource;
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{api_error, check_names, is_status, ActionError};
use crate::outcome::{Action, ActionOutcome, ActionStatus, Progress};
use crate::policy::{
    allowance, isolation_id, isolation_policy, policy_name, PluginPolicyApi, ISOLATION_LABEL,
    PLUGIN_POLICY_APIS,
};
use crate::precheck::{
    check_plugins, check_server_version, existing_pod, isolatable_pod, require_running,
};

/// kdr's name as a field manager in the objects it writes.
const FIELD_MANAGER: &str = "kdr";

/// Runs response actions against one cluster.
#[derive(Clone)]
pub struct Responder {
    client: Client,
    cluster: String,
}

impl Responder {
    /// A responder on an existing client; `cluster` labels its outcomes.
    pub fn new(client: Client, cluster: &str) -> Self {
        Responder {
            client,
            cluster: cluster.to_string(),
        }
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Cuts the pod off the network: after the pre-checks (server release, plugin, pod
    /// Running), creates a deny-all NetworkPolicy and, where the plugin has one, its own
    /// deny policy, then labels the pod so they select it. `Partial` when other policies
    /// still allow traffic and no plugin deny overrides them.
    pub async fn isolate(&self, namespace: &str, pod: &str) -> ActionOutcome {
        let mut progress = Progress::start(Action::Isolate, &self.cluster, namespace, pod);
        let result = self.isolate_steps(namespace, pod, &mut progress).await;
        progress.finish(result)
    }

    /// Undoes isolation: removes the pod's label and every policy kdr created for it.
    /// Works on a pod that is gone (removes the policies) or was never isolated.
    pub async fn release(&self, namespace: &str, pod: &str) -> ActionOutcome {
        let mut progress = Progress::start(Action::Release, &self.cluster, namespace, pod);
        let result = self.release_steps(namespace, pod, &mut progress).await;
        progress.finish(result)
    }

    /// Deletes the pod, with `grace_seconds` or the pod's own grace period when `None`.
    /// A pod that no longer exists is a success.
    pub async fn terminate(
        &self,
        namespace: &str,
        pod: &str,
        grace_seconds: Option<u32>,
    ) -> ActionOutcome {
        let mut progress = Progress::start(Action::Terminate, &self.cluster, namespace, pod);
        let result = self
            .terminate_steps(namespace, pod, grace_seconds, &mut progress)
            .await;
        progress.finish(result)
    }

    fn pods(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn network_policies(&self, namespace: &str) -> Api<NetworkPolicy> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn plugin_policies(&self, api: &PluginPolicyApi, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &api.resource())
    }

    async fn isolate_steps(
        &self,
        namespace: &str,
        pod: &str,
        progress: &mut Progress,
    ) -> Result<ActionStatus, ActionError> {
        check_names(namespace, pod)?;
        progress.note(check_server_version(&self.client).await?);
        let plugins = check_plugins(&self.client).await?;
        for note in plugins.notes {
            progress.note(note);
        }
        let target = isolatable_pod(&self.pods(namespace), namespace, pod).await?;
        let id = isolation_id(pod);

        let policy = isolation_policy(namespace, pod);
        let what = format!("NetworkPolicy {namespace}/{}", policy_name(pod));
        ensure(&self.network_policies(namespace), &policy, &what, progress).await?;

        let mut plugin_denies = Vec::new();
        for plugin in &plugins.qualified {
            let candidates: Vec<&PluginPolicyApi> = PLUGIN_POLICY_APIS
                .iter()
                .filter(|api| api.deny.plugin() == *plugin)
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let mut served = None;
            for api in candidates.iter().copied() {
                if self.serves(api).await? {
                    served = Some(api);
                    break;
                }
            }
            let Some(api) = served else {
                progress.note(format!(
                    "{plugin} runs but its policy API ({}) is not served; no {plugin} deny \
                     policy created",
                    candidates
                        .iter()
                        .map(|api| api.api_version())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ));
                continue;
            };
            let object = api.deny_policy(namespace, pod);
            let what = api.describe(namespace, pod);
            ensure(
                &self.plugin_policies(api, namespace),
                &object,
                &what,
                progress,
            )
            .await?;
            plugin_denies.push(what);
        }

        let mut labels = target.metadata.labels.clone().unwrap_or_default();
        if labels.get(ISOLATION_LABEL) == Some(&id) {
            progress.note(format!(
                "pod {namespace}/{pod} already has the label {ISOLATION_LABEL}={id}"
            ));
        } else {
            let patch = json!({"metadata": {"labels": {ISOLATION_LABEL: id}}});
            self.pods(namespace)
                .patch(pod, &patch_params(), &Patch::Merge(&patch))
                .await
                .map_err(|err| api_error(format!("labelling pod {namespace}/{pod}"), err))?;
            progress.note(format!(
                "labelled pod {namespace}/{pod} {ISOLATION_LABEL}={id}: the policies select it now"
            ));
            labels.insert(ISOLATION_LABEL.to_string(), id.clone());
        }

        self.find_allowing_policies(namespace, pod, &labels, progress)
            .await?;
        Ok(isolation_status(progress, &plugin_denies))
    }

    /// Other NetworkPolicies that select the pod (with its isolation label) and allow
    /// traffic: Kubernetes policies add up, so each keeps some traffic flowing.
    async fn find_allowing_policies(
        &self,
        namespace: &str,
        pod: &str,
        labels: &BTreeMap<String, String>,
        progress: &mut Progress,
    ) -> Result<(), ActionError> {
        let ours = policy_name(pod);
        let policies = self
            .network_policies(namespace)
            .list(&ListParams::default())
            .await
            .map_err(|err| api_error(format!("listing NetworkPolicies in {namespace}"), err))?;
        for policy in &policies.items {
            let name = policy.metadata.name.as_deref().unwrap_or("");
            if name == ours {
                continue;
            }
            if let Some(why) = allowance(policy, labels) {
                progress.allowing_policy(name);
                progress.note(why);
            }
        }
        Ok(())
    }

    /// Whether the API server serves the plugin's policy kind (the CRD or API server is
    /// installed).
    async fn serves(&self, api: &PluginPolicyApi) -> Result<bool, ActionError> {
        match self
            .client
            .list_api_group_resources(&api.api_version())
            .await
        {
            Ok(list) => Ok(list.resources.iter().any(|r| r.name == api.plural)),
            Err(err) if is_status(&err, 404) => Ok(false),
            Err(err) => Err(api_error(
                format!("discovering {} (GET /apis/{})", api.kind, api.api_version()),
                err,
            )),
        }
    }

    async fn release_steps(
        &self,
        namespace: &str,
        pod: &str,
        progress: &mut Progress,
    ) -> Result<ActionStatus, ActionError> {
        check_names(namespace, pod)?;
        let pods = self.pods(namespace);
        match existing_pod(&pods, namespace, pod).await? {
            None => progress.note(format!(
                "pod {namespace}/{pod} no longer exists; removing kdr's policies only"
            )),
            Some(target) => {
                let labelled = target
                    .metadata
                    .labels
                    .as_ref()
                    .is_some_and(|labels| labels.contains_key(ISOLATION_LABEL));
                if labelled {
                    let patch = json!({"metadata": {"labels": {ISOLATION_LABEL: null}}});
                    match pods
                        .patch(pod, &patch_params(), &Patch::Merge(&patch))
                        .await
                    {
                        Ok(_) => progress.note(format!(
                            "removed the label {ISOLATION_LABEL} from pod {namespace}/{pod}"
                        )),
                        Err(err) if is_status(&err, 404) => progress.note(format!(
                            "pod {namespace}/{pod} was deleted meanwhile; removing kdr's \
                             policies only"
                        )),
                        Err(err) => {
                            return Err(api_error(
                                format!("removing the isolation label from pod {namespace}/{pod}"),
                                err,
                            ))
                        }
                    }
                } else {
                    progress.note(format!(
                        "pod {namespace}/{pod} has no {ISOLATION_LABEL} label"
                    ));
                }
            }
        }
        let name = policy_name(pod);
        remove(
            &self.network_policies(namespace),
            &name,
            &format!("NetworkPolicy {namespace}/{name}"),
            progress,
        )
        .await?;
        for api in &PLUGIN_POLICY_APIS {
            if self.serves(api).await? {
                remove(
                    &self.plugin_policies(api, namespace),
                    &api.object_name(pod),
                    &api.describe(namespace, pod),
                    progress,
                )
                .await?;
            }
        }
        Ok(ActionStatus::Succeeded)
    }

    async fn terminate_steps(
        &self,
        namespace: &str,
        pod: &str,
        grace_seconds: Option<u32>,
        progress: &mut Progress,
    ) -> Result<ActionStatus, ActionError> {
        check_names(namespace, pod)?;
        let pods = self.pods(namespace);
        let Some(target) = existing_pod(&pods, namespace, pod).await? else {
            progress.note(format!(
                "pod {namespace}/{pod} does not exist: nothing to terminate"
            ));
            return Ok(ActionStatus::Succeeded);
        };
        let target = require_running(target, Action::Terminate, namespace, pod)?;
        // The uid precondition makes sure the pod deleted is the one checked, not a
        // replacement a controller created under the same name meanwhile.
        let params = DeleteParams {
            grace_period_seconds: grace_seconds,
            preconditions: Some(Preconditions {
                uid: target.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let grace = match grace_seconds {
            Some(seconds) => format!("grace period {seconds}s"),
            None => "the pod's own grace period".to_string(),
        };
        match pods.delete(pod, &params).await {
            Ok(_) => progress.note(format!("deleted pod {namespace}/{pod} ({grace})")),
            Err(err) if is_status(&err, 404) => progress.note(format!(
                "pod {namespace}/{pod} was deleted meanwhile: nothing to terminate"
            )),
            Err(err) => return Err(api_error(format!("deleting pod {namespace}/{pod}"), err)),
        }
        Ok(ActionStatus::Succeeded)
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

fn isolation_status(progress: &mut Progress, plugin_denies: &[String]) -> ActionStatus {
    let allowing = progress.allowing_policies().join(", ");
    if allowing.is_empty() {
        progress.note("isolation complete: no other NetworkPolicy allows traffic of the pod");
        ActionStatus::Succeeded
    } else if let Some(deny) = plugin_denies.first() {
        progress.note(format!(
            "isolation complete: {deny} denies all traffic of the pod ahead of what \
             {allowing} allow"
        ));
        ActionStatus::Succeeded
    } else {
        progress.note(format!(
            "isolation partial: Kubernetes NetworkPolicies add up, so traffic that {allowing} \
             allow still flows; no plugin deny policy is available to override them"
        ));
        ActionStatus::Partial
    }
}

/// Creates `desired`; when it exists already, keeps it if its spec is kdr's and replaces it
/// otherwise.
async fn ensure<K>(
    api: &Api<K>,
    desired: &K,
    what: &str,
    progress: &mut Progress,
) -> Result<(), ActionError>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    let name = desired.meta().name.clone().unwrap_or_default();
    match api.create(&params, desired).await {
        Ok(_) => {
            progress.note(format!("created {what}"));
            return Ok(());
        }
        Err(err) if is_status(&err, 409) => {}
        Err(err) => return Err(api_error(format!("creating {what}"), err)),
    }
    let existing = api
        .get(&name)
        .await
        .map_err(|err| api_error(format!("reading the existing {what}"), err))?;
    if same_spec(&spec_of(&existing), &spec_of(desired)) {
        progress.note(format!("{what} already exists as kdr creates it"));
        return Ok(());
    }
    let mut replacement = desired.clone();
    replacement.meta_mut().resource_version = existing.meta().resource_version.clone();
    api.replace(&name, &params, &replacement)
        .await
        .map_err(|err| api_error(format!("replacing {what}"), err))?;
    progress.note(format!("replaced {what}: it existed with a different spec"));
    Ok(())
}

fn spec_of<K: Serialize>(object: &K) -> Value {
    serde_json::to_value(object)
        .ok()
        .and_then(|value| value.get("spec").cloned())
        .unwrap_or(Value::Null)
}

/// Whether an existing spec is kdr's: the same fields, with equal values, except that the
/// server may have filled in defaults inside them (Calico's API server adds empty `source`
/// and `destination` to rules). A rule or field added by someone else is a difference.
fn same_spec(existing: &Value, desired: &Value) -> bool {
    match (existing, desired) {
        (Value::Object(have), Value::Object(want)) => {
            have.len() == want.len()
                && want
                    .iter()
                    .all(|(key, value)| have.get(key).is_some_and(|v| contains(v, value)))
        }
        _ => existing == desired,
    }
}

/// `desired` with possibly more (defaulted) keys in nested maps.
fn contains(existing: &Value, desired: &Value) -> bool {
    match (existing, desired) {
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|v| contains(v, value))),
        (Value::Array(have), Value::Array(want)) => {
            have.len() == want.len() && have.iter().zip(want).all(|(h, w)| contains(h, w))
        }
        _ => existing == desired,
    }
}

/// Deletes the object; one already gone is fine.
async fn remove<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    progress: &mut Progress,
) -> Result<(), ActionError>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => progress.note(format!("deleted {what}")),
        Err(err) if is_status(&err, 404) => progress.note(format!("{what} does not exist")),
        Err(err) => return Err(api_error(format!("deleting {what}"), err)),
    }
    Ok(())
}
