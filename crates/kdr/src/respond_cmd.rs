//! Response actions from the command line (`kdr respond`, `kdr actions`), and the runner that
//! carries out the server's actions through kdr-respond.
//!
//! `kdr respond` goes through a running `kdr serve` when `--server` is given (the server
//! checks the token's permissions and records the action); otherwise it acts on the cluster
//! directly with the local kubeconfig and records the action in the local store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use kdr_respond::{ActionOutcome, ClusterSource, Responder};
use kdr_server::respond::{
    ActionKind, ActionRequest, ActionStatus, BoxFuture, ResponseRunner, RunOutcome,
};
use kdr_store::{ActionFilter, ActionRecord};

use crate::store_cmd::StoreArg;

/// How kdr reaches clusters.
#[derive(Args, Clone, Default)]
pub struct KubeArgs {
    /// kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, env = "KDR_KUBECONFIG", global = true)]
    kubeconfig: Option<PathBuf>,
    /// Use the service-account credentials Kubernetes mounts into kdr's pod.
    #[arg(long, global = true, conflicts_with = "kubeconfig")]
    in_cluster: bool,
    /// Default kubeconfig context (cluster) for actions that name none (default: the
    /// kubeconfig's current context).
    #[arg(long = "default-context", global = true)]
    default_context: Option<String>,
    /// CLUSTER=CONTEXT: actions on alerts from cluster CLUSTER use kubeconfig context
    /// CONTEXT. Without one, a context named CLUSTER, or whose cluster entry is named CLUSTER,
    /// is used (repeatable).
    #[arg(long = "cluster-context", global = true, value_parser = parse_cluster_context)]
    cluster_contexts: Vec<(String, String)>,
    /// Grace period of terminate when the request names none (default: the pod's own).
    #[arg(long = "default-grace-seconds", global = true)]
    default_grace_seconds: Option<u32>,
}

fn parse_cluster_context(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((cluster, context)) if !cluster.is_empty() && !context.is_empty() => {
            Ok((cluster.to_owned(), context.to_owned()))
        }
        _ => Err(format!("{text:?}: expected CLUSTER=CONTEXT")),
    }
}

/// Carries out actions with kdr-respond, connecting to the named context each time (so a
/// kubeconfig change takes effect without a restart).
pub struct KubeRunner {
    kube: KubeArgs,
}

impl KubeRunner {
    pub fn new(kube: &KubeArgs) -> KubeRunner {
        KubeRunner { kube: kube.clone() }
    }

    fn source(&self, context: Option<&str>) -> ClusterSource {
        if self.kube.in_cluster {
            ClusterSource::InCluster
        } else {
            ClusterSource::Kubeconfig {
                path: self.kube.kubeconfig.clone(),
                context: context
                    .map(str::to_owned)
                    .or_else(|| self.kube.default_context.clone()),
            }
        }
    }

    async fn outcome(&self, request: &ActionRequest) -> Result<ActionOutcome, String> {
        let responder = Responder::connect(&self.source(request.context.as_deref()))
            .await
            .map_err(|e| e.to_string())?;
        let (namespace, pod) = (request.namespace.as_str(), request.pod.as_str());
        Ok(match request.kind {
            ActionKind::Isolate => responder.isolate(namespace, pod).await,
            ActionKind::Release => responder.release(namespace, pod).await,
            ActionKind::Terminate => {
                let grace = match request.grace_seconds {
                    Some(seconds) => Some(u32::try_from(seconds).map_err(|_| {
                        format!("graceSeconds {seconds}: expected 0 to {}", u32::MAX)
                    })?),
                    None => self.kube.default_grace_seconds,
                };
                responder.terminate(namespace, pod, grace).await
            }
        })
    }
}

impl ResponseRunner for KubeRunner {
    fn run<'a>(&'a self, request: &'a ActionRequest) -> BoxFuture<'a, RunOutcome> {
        Box::pin(async move {
            match self.outcome(request).await {
                Ok(outcome) => RunOutcome {
                    status: match outcome.status {
                        kdr_respond::ActionStatus::Succeeded => ActionStatus::Succeeded,
                        kdr_respond::ActionStatus::Partial => ActionStatus::Partial,
                        kdr_respond::ActionStatus::Failed => ActionStatus::Failed,
                    },
                    error: outcome.error.as_ref().map(|failure| match failure.code {
                        Some(code) => format!("{} ({code}): {}", failure.reason, failure.message),
                        None => format!("{}: {}", failure.reason, failure.message),
                    }),
                    details: json!(outcome),
                },
                Err(message) => RunOutcome {
                    status: ActionStatus::Failed,
                    error: Some(message),
                    details: json!({}),
                },
            }
        })
    }

    fn default_context(&self) -> Option<String> {
        if self.kube.in_cluster {
            return Some(kdr_respond::IN_CLUSTER.to_owned());
        }
        self.kube.default_context.clone().or_else(|| {
            kdr_respond::kubeconfig_contexts(self.kube.kubeconfig.as_deref())
                .ok()
                .and_then(|contexts| contexts.current)
        })
    }

    fn context_for_cluster(&self, cluster: &str) -> Result<Option<String>, String> {
        if let Some((_, context)) = self
            .kube
            .cluster_contexts
            .iter()
            .find(|(c, _)| c == cluster)
        {
            return Ok(Some(context.clone()));
        }
        // In a pod, kdr reaches only the cluster it runs in.
        if self.kube.in_cluster {
            return Ok(None);
        }
        let contexts = kdr_respond::kubeconfig_contexts(self.kube.kubeconfig.as_deref())
            .map_err(|e| e.to_string())?;
        if let Some(context) = contexts.for_cluster(cluster) {
            return Ok(Some(context.to_owned()));
        }
        // One context: the cluster's name in alerts is only a label of the one cluster.
        if contexts.names.len() <= 1 {
            return Ok(None);
        }
        Err(format!(
            "no kubeconfig context reaches cluster {cluster:?} (contexts: {}); name one with \
             --cluster-context {cluster}=CONTEXT",
            contexts.names.join(", ")
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// kdr respond

#[derive(Args)]
pub struct RespondArgs {
    #[command(subcommand)]
    action: RespondAction,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    kube: KubeArgs,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// Go through this kdr serve (URL) instead of acting directly.
    #[arg(long, env = "KDR_SERVER", global = true)]
    server: Option<String>,
    /// API token for --server ("Response: manage" to act, "Alerts: read" to list).
    #[arg(long, env = "KDR_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum RespondAction {
    /// Cut the pod off the network (label + deny-all NetworkPolicy + plugin deny policy).
    Isolate(Target),
    /// Undo an isolation.
    Release(Target),
    /// Delete the pod.
    Terminate {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        grace_seconds: Option<u32>,
    },
}

#[derive(Args)]
struct Target {
    pod: String,
    #[arg(short = 'n', long)]
    namespace: String,
    /// kubeconfig context (cluster).
    #[arg(long)]
    context: Option<String>,
}

pub fn respond(args: RespondArgs) -> anyhow::Result<ExitCode> {
    let (kind, target, grace) = match args.action {
        RespondAction::Isolate(target) => (ActionKind::Isolate, target, None),
        RespondAction::Release(target) => (ActionKind::Release, target, None),
        RespondAction::Terminate {
            target,
            grace_seconds,
        } => (ActionKind::Terminate, target, grace_seconds),
    };
    let request = ActionRequest {
        kind,
        namespace: target.namespace,
        pod: target.pod,
        context: target.context,
        cluster: None,
        grace_seconds: grace.map(i64::from),
        alert_id: None,
        incident_id: None,
    };
    let record = match &args.server.server {
        Some(server) => respond_through_server(server, &args.server, &request)?,
        None => respond_directly(&args.store, &args.kube, &request)?,
    };
    print_action(&record);
    Ok(match record.status.as_str() {
        "Succeeded" => ExitCode::SUCCESS,
        "Partial" => ExitCode::from(3),
        _ => ExitCode::from(1),
    })
}

fn respond_directly(
    store: &StoreArg,
    kube: &KubeArgs,
    request: &ActionRequest,
) -> anyhow::Result<ActionRecord> {
    let mut store = store.open()?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let runner = KubeRunner::new(kube);
    let mut record = kdr_server::respond::new_record(request, &actor, runner.default_context());
    store.create_action(&record)?;
    store.record_audit(
        &actor,
        &format!("response.{}", record.kind),
        &format!("{}/{}", record.namespace, record.pod),
        &json!({ "action": record.id, "context": record.context }),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(runner.run(request));
    record.status = outcome.status.name().to_owned();
    record.error = outcome.error;
    record.details = outcome.details;
    record.finished_at = Some(kdr_server::now());
    store.update_action(
        &record.id,
        &record.status,
        record.finished_at,
        record.error.as_deref(),
        &record.details,
    )?;
    Ok(record)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn server_call(
    server: &ServerArgs,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let base = server
        .server
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/');
    let token = server
        .token
        .as_deref()
        .context("--server needs an API token (--token or KDR_TOKEN)")?;
    let url = format!("{base}{path}");
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(&url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    let response = agent()
        .run(request.body(body.map(Value::to_string).unwrap_or_default())?)
        .with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let text = response.into_body().read_to_string()?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{method} {url}: the answer is not JSON: {text:.200}"))?;
    if !status.is_success() {
        bail!(
            "{method} {url}: {status}: {}",
            value["error"].as_str().unwrap_or(&text)
        );
    }
    Ok(value)
}

fn respond_through_server(
    server: &str,
    args: &ServerArgs,
    request: &ActionRequest,
) -> anyhow::Result<ActionRecord> {
    let body = json!({
        "kind": request.kind,
        "namespace": request.namespace,
        "pod": request.pod,
        "context": request.context,
        "graceSeconds": request.grace_seconds,
    });
    let started = server_call(args, "POST", "/api/v1/actions", Some(&body))?;
    let id = started["id"]
        .as_str()
        .with_context(|| format!("{server} answered without an action id: {started}"))?
        .to_owned();
    // The server runs the action in the background; wait for it to finish.
    for _ in 0..600 {
        let answer = server_call(args, "GET", &format!("/api/v1/actions/{id}"), None)?;
        let action = &answer["action"];
        if action["status"] != "Running" {
            return record_from_json(action);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("action {id} still running after two minutes; see `kdr actions`")
}

fn record_from_json(value: &Value) -> anyhow::Result<ActionRecord> {
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
    let time = |key: &str| {
        value[key]
            .as_str()
            .and_then(kdr_kql::time::parse_datetime)
            .map(kdr_model::Timestamp)
    };
    Ok(ActionRecord {
        id: text("id"),
        kind: text("kind"),
        context: text("context"),
        namespace: text("namespace"),
        pod: text("pod"),
        actor: text("actor"),
        requested_at: time("requestedAt").unwrap_or_default(),
        finished_at: time("finishedAt"),
        status: text("status"),
        error: value["error"].as_str().map(str::to_owned),
        details: value["details"].clone(),
        alert_id: value["alertId"].as_str().map(str::to_owned),
        incident_id: value["incidentId"].as_str().map(str::to_owned),
    })
}

fn print_action(record: &ActionRecord) {
    println!(
        "{} {}/{}{}: {}",
        record.kind,
        record.namespace,
        record.pod,
        if record.context.is_empty() {
            String::new()
        } else {
            format!(" (context {})", record.context)
        },
        record.status
    );
    if let Some(details) = record.details["details"].as_array() {
        for line in details.iter().filter_map(Value::as_str) {
            println!("  - {line}");
        }
    }
    if let Some(error) = &record.error {
        println!("  error: {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// kdr actions

#[derive(Args)]
pub struct ActionsArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    #[arg(long)]
    pod: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn actions(args: ActionsArgs) -> anyhow::Result<ExitCode> {
    let records: Vec<ActionRecord> = match &args.server.server {
        Some(_) => {
            let mut query = Vec::new();
            if let Some(namespace) = &args.namespace {
                query.push(format!("namespace={namespace}"));
            }
            if let Some(pod) = &args.pod {
                query.push(format!("pod={pod}"));
            }
            let list = server_call(
                &args.server,
                "GET",
                &format!("/api/v1/actions?{}", query.join("&")),
                None,
            )?;
            list.as_array()
                .map(|items| items.iter().map(record_from_json).collect())
                .transpose()?
                .unwrap_or_default()
        }
        None => args.store.open()?.list_actions(
            &ActionFilter {
                namespace: args.namespace.clone(),
                pod: args.pod.clone(),
                ..ActionFilter::default()
            },
            500,
        )?,
    };
    if args.json {
        for record in &records {
            println!("{}", serde_json::to_string(record)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cells: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.kind.clone(),
                format!("{}/{}", r.namespace, r.pod),
                r.context.clone(),
                r.actor.clone(),
                r.requested_at.to_string(),
                r.finished_at.map_or_else(String::new, |t| t.to_string()),
                r.status.clone(),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &[
                "ID",
                "ACTION",
                "POD",
                "CONTEXT",
                "BY",
                "REQUESTED",
                "FINISHED",
                "STATUS",
                "ERROR"
            ],
            &cells,
            60
        )
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(contexts: &[(&str, &str)]) -> tempfile::NamedTempFile {
        let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
        for (_, cluster) in contexts {
            text += &format!("- name: {cluster}\n  cluster:\n    server: https://127.0.0.1:6443\n");
        }
        text += "users:\n- name: u\n  user:\n    token: t\ncontexts:\n";
        for (name, cluster) in contexts {
            text += &format!("- name: {name}\n  context:\n    cluster: {cluster}\n    user: u\n");
        }
        text += &format!("current-context: {}\n", contexts[0].0);
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write kubeconfig");
        file
    }

    fn runner(path: &std::path::Path, mappings: &[(&str, &str)]) -> KubeRunner {
        KubeRunner::new(&KubeArgs {
            kubeconfig: Some(path.to_owned()),
            cluster_contexts: mappings
                .iter()
                .map(|(c, x)| (c.to_string(), x.to_string()))
                .collect(),
            ..KubeArgs::default()
        })
    }

    #[test]
    fn an_alert_cluster_maps_to_the_context_that_reaches_it_or_is_refused() {
        let file = kubeconfig(&[("admin@prod-eu", "prod-eu"), ("staging", "staging-1")]);
        let kube = runner(file.path(), &[("legacy", "staging")]);
        assert_eq!(kube.default_context().as_deref(), Some("admin@prod-eu"));
        let mapped = |cluster| kube.context_for_cluster(cluster);
        assert_eq!(mapped("prod-eu"), Ok(Some("admin@prod-eu".to_owned())));
        assert_eq!(mapped("staging"), Ok(Some("staging".to_owned())));
        assert_eq!(mapped("legacy"), Ok(Some("staging".to_owned())));
        let refused = mapped("dev-us").expect_err("an unknown cluster is refused");
        assert!(refused.contains("\"dev-us\""), "{refused}");
        assert!(refused.contains("admin@prod-eu, staging"), "{refused}");
        assert!(
            refused.contains("--cluster-context dev-us=CONTEXT"),
            "{refused}"
        );
    }

    #[test]
    fn with_one_context_every_cluster_name_is_that_cluster() {
        let file = kubeconfig(&[("kind-kind", "kind-kind")]);
        let kube = runner(file.path(), &[]);
        assert_eq!(kube.context_for_cluster("prod-eu"), Ok(None));
        assert!(parse_cluster_context("prod=").is_err());
        assert_eq!(
            parse_cluster_context("prod=admin@prod"),
            Ok(("prod".to_owned(), "admin@prod".to_owned()))
        );
    }
}
