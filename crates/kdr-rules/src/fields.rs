//! The field registry: every field a condition can name, its type, the sources that have it,
//! and how to read it from an [`Input`]. Names are resolved to [`Field`] once, when rules are
//! compiled; evaluation is a `match`, never a lookup by name.

use kdr_model::{Payload, RuntimeAction, Source};

use crate::input::{basename, dirname, env_values, label_value, Input};

/// The value of a field in one event. Multi-valued fields borrow slices of the event's views.
#[derive(Debug, PartialEq)]
pub enum Val<'a> {
    Missing,
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Strs(&'a [String]),
    Ints(&'a [i64]),
    Bools(&'a [bool]),
    OwnedStrs(Vec<String>),
    /// A few names of one thing (e.g. a process's executable name, argv[0] and comm), held
    /// without allocating; duplicates allowed.
    Names([&'a str; 3]),
    /// Borrowed names computed once per event (e.g. every ancestor's names).
    StrRefs(&'a [&'a str]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Int,
    Bool,
    Strs,
    Ints,
    Bools,
}

impl FieldType {
    pub fn scalar(self) -> FieldType {
        match self {
            FieldType::Strs => FieldType::Str,
            FieldType::Ints => FieldType::Int,
            FieldType::Bools => FieldType::Bool,
            other => other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "string",
            FieldType::Int => "number",
            FieldType::Bool => "boolean",
            FieldType::Strs => "list of strings",
            FieldType::Ints => "list of numbers",
            FieldType::Bools => "list of booleans",
        }
    }
}

/// Which argument a field takes in brackets, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    None,
    Text,
    Index,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldArg {
    None,
    Text(Box<str>),
    Index(usize),
}

/// Which sources a field is read from. `Any` fields come from the common context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldSource {
    Any,
    Only(Source),
}

macro_rules! fields {
    ($( $variant:ident => $name:literal, $source:expr, $ty:ident, $arg:ident, $doc:literal; )*) => {
        /// Every field kdr knows.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field { $($variant),* }

        pub struct FieldInfo {
            pub field: Field,
            pub name: &'static str,
            pub source: FieldSource,
            pub ty: FieldType,
            pub arg: ArgKind,
            pub doc: &'static str,
        }

        pub const FIELDS: &[FieldInfo] = &[
            $(FieldInfo { field: Field::$variant, name: $name, source: $source, ty: FieldType::$ty, arg: ArgKind::$arg, doc: $doc }),*
        ];
    };
}

use FieldSource::{Any, Only};
const AUDIT: FieldSource = Only(Source::K8sAudit);
const RUNTIME: FieldSource = Only(Source::Runtime);
const CLOUD: FieldSource = Only(Source::Cloud);
const EXPOSURE: FieldSource = Only(Source::Exposure);

fields! {
    EvtSource => "evt.source", Any, Str, None, "k8s_audit, runtime, cloud or exposure";
    EvtId => "evt.id", Any, Str, None, "the source's event ID (audit ID, sensor sequence, CloudTrail eventID)";
    EvtSourceIps => "evt.sourceips", Any, Strs, None, "source IP addresses of the request";
    ClusterName => "cluster.name", Any, Str, None, "cluster the event comes from";
    NodeName => "node.name", Any, Str, None, "node the event comes from";
    NsName => "k8s.ns.name", Any, Str, None, "Kubernetes namespace of the pod or object";
    PodName => "k8s.pod.name", Any, Str, None, "pod name";
    ContainerId => "container.id", Any, Str, None, "container ID (empty on the host)";
    ContainerName => "container.name", Any, Str, None, "container name";
    ContainerImage => "container.image", Any, Str, None, "container image reference";
    ContainerImageRepository => "container.image.repository", Any, Str, None, "container image without tag or digest";
    Identity => "user.identity", Any, Str, None, "the acting identity (Kubernetes user, cloud principal, account)";

    KaAuditId => "ka.auditid", AUDIT, Str, None, "audit ID";
    KaStage => "ka.stage", AUDIT, Str, None, "audit stage (ResponseComplete, ...)";
    KaLevel => "ka.level", AUDIT, Str, None, "audit level (Metadata, Request, RequestResponse)";
    KaVerb => "ka.verb", AUDIT, Str, None, "API verb (get, list, watch, create, update, patch, delete, deletecollection)";
    KaUri => "ka.uri", AUDIT, Str, None, "request URI";
    KaUserName => "ka.user.name", AUDIT, Str, None, "authenticated user name";
    KaUserGroups => "ka.user.groups", AUDIT, Strs, None, "the user's groups";
    KaUserKind => "ka.user.kind", AUDIT, Str, None, "serviceaccount, node, anonymous or user";
    KaImpUserName => "ka.impuser.name", AUDIT, Str, None, "impersonated user name";
    KaUserAgent => "ka.useragent", AUDIT, Str, None, "HTTP user agent";
    KaSourceIps => "ka.sourceips", AUDIT, Strs, None, "source IPs of the request";
    KaTargetResource => "ka.target.resource", AUDIT, Str, None, "resource of the target object (pods, services, ...)";
    KaTargetSubresource => "ka.target.subresource", AUDIT, Str, None, "subresource (exec, log, status, ...)";
    KaTargetNamespace => "ka.target.namespace", AUDIT, Str, None, "namespace of the target object";
    KaTargetName => "ka.target.name", AUDIT, Str, None, "name of the target object";
    KaTargetApiGroup => "ka.target.apigroup", AUDIT, Str, None, "API group of the target";
    KaTargetScope => "ka.target.scope", AUDIT, Str, None, "namespaced or cluster";
    KaTargetKind => "ka.target.kind", AUDIT, Str, None, "kind of the object in the request/response body";
    KaResponseCode => "ka.response.code", AUDIT, Int, None, "HTTP response code";
    KaFailed => "ka.failed", AUDIT, Bool, None, "true when the response code is 400 or more";
    KaAuthDecision => "ka.auth.decision", AUDIT, Str, None, "authorization decision annotation (allow, forbid)";
    KaAnnotation => "ka.annotation", AUDIT, Str, Text, "an audit annotation by key";
    KaReqName => "ka.req.name", AUDIT, Str, None, "name in the resulting object's metadata";
    KaReqLabels => "ka.req.labels", AUDIT, Strs, None, "labels of the resulting object as key=value";
    KaReqWorkloadKind => "ka.req.workload.kind", AUDIT, Str, None, "kind of a pod-bearing object (Pod, Deployment, CronJob, ...)";
    KaReqPodImages => "ka.req.pod.containers.image", AUDIT, Strs, None, "images of every container (init and ephemeral included)";
    KaReqPodImageRepos => "ka.req.pod.containers.image.repository", AUDIT, Strs, None, "images without tag or digest";
    KaReqPodContainerNames => "ka.req.pod.containers.name", AUDIT, Strs, None, "container names";
    KaReqPodPrivileged => "ka.req.pod.containers.privileged", AUDIT, Bools, None, "securityContext.privileged per container (false when unset)";
    KaReqPodPrivilegedContainers => "ka.req.pod.privileged_containers", AUDIT, Strs, None, "`name (image)` of each privileged container";
    KaReqPodAllowPrivEsc => "ka.req.pod.containers.allow_privilege_escalation", AUDIT, Bools, None, "allowPrivilegeEscalation per container (true when unset)";
    KaReqPodAddCaps => "ka.req.pod.containers.add_capabilities", AUDIT, Strs, None, "capabilities added by any container";
    KaReqPodEnv => "ka.req.pod.containers.env", AUDIT, Strs, Text, "NAME=value env entries; with [NAME], the values of NAME";
    KaReqPodCommand => "ka.req.pod.containers.command", AUDIT, Strs, None, "command and args per container, joined";
    KaReqPodPorts => "ka.req.pod.containers.port", AUDIT, Ints, None, "container ports";
    KaReqPodHostPorts => "ka.req.pod.containers.host_port", AUDIT, Ints, None, "host ports";
    KaReqPodHostPaths => "ka.req.pod.volumes.hostpath", AUDIT, Strs, None, "hostPath volume paths";
    KaReqPodHostPathVolumes => "ka.req.pod.volumes.hostpath_volumes", AUDIT, Strs, None, "`volume=path` of each hostPath volume";
    KaReqPodVolumeTypes => "ka.req.pod.volumes.volume_type", AUDIT, Strs, None, "volume types (hostPath, configMap, emptyDir, ...)";
    KaReqPodHostNetwork => "ka.req.pod.host_network", AUDIT, Bool, None, "hostNetwork";
    KaReqPodHostPid => "ka.req.pod.host_pid", AUDIT, Bool, None, "hostPID";
    KaReqPodHostIpc => "ka.req.pod.host_ipc", AUDIT, Bool, None, "hostIPC";
    KaReqPodServiceAccount => "ka.req.pod.serviceaccount", AUDIT, Str, None, "serviceAccountName";
    KaReqPodLabels => "ka.req.pod.labels", AUDIT, Strs, None, "pod (template) labels as key=value";
    KaReqPodRunAsUser => "ka.req.pod.run_as_user", AUDIT, Ints, None, "effective runAsUser per container that sets one";
    KaReqServiceType => "ka.req.service.type", AUDIT, Str, None, "Service type (ClusterIP when unset)";
    KaReqServicePorts => "ka.req.service.ports", AUDIT, Ints, None, "Service ports";
    KaReqServiceSelector => "ka.req.service.selector", AUDIT, Strs, None, "Service selector as key=value";
    KaReqServiceSourceRanges => "ka.req.service.source_ranges", AUDIT, Strs, None, "loadBalancerSourceRanges";
    KaReqRoleVerbs => "ka.req.role.rules.verbs", AUDIT, Strs, None, "verbs granted by any rule";
    KaReqRoleResources => "ka.req.role.rules.resources", AUDIT, Strs, None, "resources named by any rule";
    KaReqRoleApiGroups => "ka.req.role.rules.apigroups", AUDIT, Strs, None, "API groups named by any rule";
    KaReqRoleGrants => "ka.req.role.rules.grants", AUDIT, Strs, None, "`verb resource` for every pair a rule grants";
    KaReqRoleNonResourceUrls => "ka.req.role.rules.nonresourceurls", AUDIT, Strs, None, "non-resource URLs";
    KaReqBindingRole => "ka.req.binding.role", AUDIT, Str, None, "roleRef.name of a (Cluster)RoleBinding";
    KaReqBindingRoleKind => "ka.req.binding.role.kind", AUDIT, Str, None, "roleRef.kind";
    KaReqBindingSubjects => "ka.req.binding.subjects", AUDIT, Strs, None, "subjects as Kind:namespace/name";
    KaReqConfigMapKeys => "ka.req.configmap.keys", AUDIT, Strs, None, "ConfigMap data keys";
    KaReqConfigMapValues => "ka.req.configmap.values", AUDIT, Strs, None, "ConfigMap data values";
    KaReqWebhookNames => "ka.req.webhook.names", AUDIT, Strs, None, "webhook names of a webhook configuration";
    KaReqWebhookTargets => "ka.req.webhook.targets", AUDIT, Strs, None, "webhook service namespace/name or URL";
    KaReqWebhookResources => "ka.req.webhook.resources", AUDIT, Strs, None, "resources the webhooks intercept";

    EvtType => "evt.type", RUNTIME, Str, None, "exec, exit, fork, open, unlink, rename, utimes, chmod, connect, accept, listen, unshare, setns, clone, ptrace, kill, memfd_create, module_load, mount";
    EvtRes => "evt.res", RUNTIME, Int, None, "syscall result (0 or positive on success, -errno on failure)";
    ProcName => "proc.name", RUNTIME, Str, None, "executable file name (from the exe path, else comm)";
    ProcComm => "proc.comm", RUNTIME, Str, None, "kernel task name (16 bytes)";
    ProcExe => "proc.exe", RUNTIME, Str, None, "argv[0] as the process was started";
    ProcExePath => "proc.exepath", RUNTIME, Str, None, "full path of the executable";
    ProcArgs => "proc.args", RUNTIME, Str, None, "arguments after argv[0], joined by spaces";
    ProcArgv => "proc.argv", RUNTIME, Strs, None, "every argv element";
    ProcCmdline => "proc.cmdline", RUNTIME, Str, None, "full command line, argv joined by spaces";
    ProcNames => "proc.names", RUNTIME, Strs, None, "every name the process goes by: executable file name, argv[0]'s file name and comm (a busybox applet, a renamed copy)";
    ProcIsExeUpperLayer => "proc.is_exe_upper_layer", RUNTIME, Bool, None, "the executable lives in the container's writable layer: written or changed after the container started (drift)";
    ProcArgsTruncated => "proc.args_truncated", RUNTIME, Bool, None, "argv was longer than the sensor's bound";
    ProcPid => "proc.pid", RUNTIME, Int, None, "process ID";
    ProcPpid => "proc.ppid", RUNTIME, Int, None, "parent process ID";
    ProcCwd => "proc.cwd", RUNTIME, Str, None, "working directory";
    ProcPname => "proc.pname", RUNTIME, Str, None, "parent executable name";
    ProcPexePath => "proc.pexepath", RUNTIME, Str, None, "parent executable path";
    ProcPcmdline => "proc.pcmdline", RUNTIME, Str, None, "parent command line";
    ProcPnames => "proc.pnames", RUNTIME, Strs, None, "names the parent goes by: executable file name and argv[0]'s file name";
    ProcAnames => "proc.anames", RUNTIME, Strs, None, "names of every ancestor (executable file names and argv[0] file names), parent first";
    ProcAname => "proc.aname", RUNTIME, Strs, Index, "ancestor names (parent first); with [N], the Nth ancestor (1 = parent)";
    ProcAexePath => "proc.aexepath", RUNTIME, Strs, None, "ancestor executable paths, parent first";
    ProcStdinType => "proc.stdin.type", RUNTIME, Str, None, "what fd 0 is: file, tty, pipe, socket, closed, unknown";
    ProcStdoutType => "proc.stdout.type", RUNTIME, Str, None, "what fd 1 is";
    ProcStderrType => "proc.stderr.type", RUNTIME, Str, None, "what fd 2 is";
    ProcStdioSocket => "proc.stdio.socket", RUNTIME, Bool, None, "any of fds 0, 1, 2 is a socket";
    UserUid => "user.uid", RUNTIME, Int, None, "real user ID";
    UserEuid => "user.euid", RUNTIME, Int, None, "effective user ID";
    UserName => "user.name", RUNTIME, Str, None, "account name, when known";
    ContainerPrivileged => "container.privileged", RUNTIME, Bool, None, "the container runs privileged";
    ContainerImageId => "container.image.id", RUNTIME, Str, None, "image ID (digest)";
    FdName => "fd.name", RUNTIME, Str, None, "file path, or the remote address:port of a socket, or the unix socket path";
    FdDirectory => "fd.directory", RUNTIME, Str, None, "directory of fd.name";
    FdFilename => "fd.filename", RUNTIME, Str, None, "file name of fd.name";
    FdTarget => "fd.target", RUNTIME, Str, None, "new path of a rename";
    EvtIsOpenRead => "evt.is_open_read", RUNTIME, Bool, None, "an open for reading";
    EvtIsOpenWrite => "evt.is_open_write", RUNTIME, Bool, None, "an open for writing";
    EvtIsOpenCreate => "evt.is_open_create", RUNTIME, Bool, None, "an open with O_CREAT";
    EvtIsOpenTruncate => "evt.is_open_truncate", RUNTIME, Bool, None, "an open with O_TRUNC";
    FdRip => "fd.rip", RUNTIME, Str, None, "remote IP of a connect/accept";
    FdRport => "fd.rport", RUNTIME, Int, None, "remote port";
    FdLip => "fd.lip", RUNTIME, Str, None, "local IP";
    FdLport => "fd.lport", RUNTIME, Int, None, "local port (listen, accept)";
    FdSockFamily => "fd.sockfamily", RUNTIME, Str, None, "inet, inet6, unix or other";
    EvtNsFlags => "evt.nsflags", RUNTIME, Strs, None, "CLONE_NEW* flags of unshare/setns/clone";
    EvtSignal => "evt.signal", RUNTIME, Int, None, "signal number of a kill";
    EvtTargetPid => "evt.target.pid", RUNTIME, Int, None, "target pid of kill/ptrace";
    EvtTargetExe => "evt.target.exe", RUNTIME, Str, None, "target executable of a kill, when known";
    EvtTargetName => "evt.target.name", RUNTIME, Str, None, "file name of the kill target's executable";
    EvtChmodMode => "evt.chmod.mode", RUNTIME, Int, None, "new mode of a chmod";
    EvtChmodExec => "evt.chmod.exec", RUNTIME, Bool, None, "a chmod that sets an execute bit";
    EvtPtraceRequest => "evt.ptrace.request", RUNTIME, Int, None, "ptrace request";
    EvtModuleName => "evt.module.name", RUNTIME, Str, None, "kernel module loaded";
    EvtMountSource => "evt.mount.source", RUNTIME, Str, None, "mount source";
    EvtMountTarget => "evt.mount.target", RUNTIME, Str, None, "mount target";
    EvtMountFstype => "evt.mount.fstype", RUNTIME, Str, None, "mount file system type";
    EvtMemfdName => "evt.memfd.name", RUNTIME, Str, None, "memfd_create name";
    EvtExitCode => "evt.exit.code", RUNTIME, Int, None, "exit code";

    CloudProvider => "cloud.provider", CLOUD, Str, None, "azure, aws or gcp";
    CloudOperation => "cloud.operation", CLOUD, Str, None, "operation name (Microsoft.X/y/write, service:EventName)";
    CloudPrincipalId => "cloud.principal.id", CLOUD, Str, None, "principal object ID or ARN";
    CloudPrincipalType => "cloud.principal.type", CLOUD, Str, None, "principal type";
    CloudResourceId => "cloud.resource.id", CLOUD, Str, None, "resource ID";
    CloudStatus => "cloud.status", CLOUD, Str, None, "status as the provider reports it";
    CloudUserAgent => "cloud.useragent", CLOUD, Str, None, "user agent";

    SvcName => "svc.name", EXPOSURE, Str, None, "exposing Service name";
    SvcNamespace => "svc.namespace", EXPOSURE, Str, None, "exposing Service namespace";
    SvcType => "svc.type", EXPOSURE, Str, None, "Service type";
    SvcPorts => "svc.ports", EXPOSURE, Ints, None, "Service ports";
    SvcTargetPorts => "svc.target_ports", EXPOSURE, Strs, None, "Service target ports (numbers or names)";
    SvcPortNames => "svc.port_names", EXPOSURE, Strs, None, "Service port names";
    SvcSelector => "svc.selector", EXPOSURE, Strs, None, "selector as key=value";
    SvcSourceRanges => "svc.source_ranges", EXPOSURE, Strs, None, "loadBalancerSourceRanges";
    SvcWidestPrefix => "svc.source_ranges.widest_prefix", EXPOSURE, Int, None, "shortest prefix length among the source ranges; 0 when none restrict the source";
    WlKind => "wl.kind", EXPOSURE, Str, None, "kind of the exposed workload";
    WlName => "wl.name", EXPOSURE, Str, None, "name of the exposed workload";
    WlNamespace => "wl.namespace", EXPOSURE, Str, None, "namespace of the exposed workload";
    WlImages => "wl.images", EXPOSURE, Strs, None, "images of the exposed workload";
    WlImageRepos => "wl.image.repository", EXPOSURE, Strs, None, "images without tag or digest";
    WlEnv => "wl.env", EXPOSURE, Strs, Text, "NAME=value env entries; with [NAME], the values of NAME";
    WlCommand => "wl.command", EXPOSURE, Strs, None, "command and args per container";
    WlPorts => "wl.ports", EXPOSURE, Ints, None, "container ports";
    WlLabels => "wl.labels", EXPOSURE, Strs, Text, "pod labels as key=value; with [KEY], the value of KEY";
    WlConfig => "wl.config", EXPOSURE, Strs, None, "contents of the ConfigMaps the workload mounts";
    WlConfigMaps => "wl.configmaps", EXPOSURE, Strs, None, "names of the ConfigMaps the workload mounts";
    WlPgHbaTrust => "wl.config.pg_hba_trust", EXPOSURE, Strs, None, "pg_hba.conf records in mounted ConfigMaps that trust remote clients (no password)";
    InventoryNamespaces => "inventory.namespaces", EXPOSURE, Strs, None, "namespaces known in the cluster";
}

impl Field {
    pub fn info(self) -> &'static FieldInfo {
        // FIELDS is declared in enum order.
        &FIELDS[self as usize]
    }

    pub fn lookup(name: &str) -> Option<&'static FieldInfo> {
        FIELDS.iter().find(|f| f.name == name)
    }

    /// Whether the field's value depends only on the event type and on what identifies a
    /// running program ([`ProcessKey`](crate::memo::ProcessKey)): its names, command line,
    /// lineage, stdio, users and working directory, never its pids, the action's details or
    /// the context. Results of tests on such fields are remembered across events.
    pub fn reads_process_only(self) -> bool {
        matches!(
            self,
            Field::EvtType
                | Field::ProcName
                | Field::ProcComm
                | Field::ProcExe
                | Field::ProcExePath
                | Field::ProcArgs
                | Field::ProcArgv
                | Field::ProcCmdline
                | Field::ProcNames
                | Field::ProcIsExeUpperLayer
                | Field::ProcArgsTruncated
                | Field::ProcCwd
                | Field::ProcPname
                | Field::ProcPexePath
                | Field::ProcPcmdline
                | Field::ProcPnames
                | Field::ProcAnames
                | Field::ProcAname
                | Field::ProcAexePath
                | Field::ProcStdinType
                | Field::ProcStdoutType
                | Field::ProcStderrType
                | Field::ProcStdioSocket
                | Field::UserUid
                | Field::UserEuid
                | Field::UserName
        )
    }

    /// Reads the field from an event. `Missing` when the event does not carry it.
    pub fn extract<'a>(self, arg: &FieldArg, input: &'a Input<'_>) -> Val<'a> {
        let event = input.event;
        let context = &event.context;
        let opt = |value: &'a Option<String>| value.as_deref().map_or(Val::Missing, Val::Str);
        match self {
            Field::EvtSource => Val::Str(match (&event.payload, input.exposure) {
                (_, Some(_)) => Source::Exposure.name(),
                (payload, None) => payload.source().name(),
            }),
            Field::EvtId => Val::Str(&event.id),
            Field::EvtSourceIps => Val::Strs(&context.source_ips),
            Field::ClusterName => opt(&context.cluster),
            Field::NodeName => opt(&context.node),
            Field::NsName => opt(&context.namespace),
            Field::PodName => opt(&context.pod),
            // Runtime events on the host have no container: the ID is empty, not unknown, so
            // keys and host-only conditions work there.
            Field::ContainerId => match (&context.container_id, &event.payload) {
                (None, Payload::Runtime(_)) => Val::Str(""),
                (id, _) => opt(id),
            },
            Field::ContainerName => opt(&context.container_name),
            Field::ContainerImage => opt(&context.image),
            Field::ContainerImageRepository => context
                .image
                .as_deref()
                .map_or(Val::Missing, |i| Val::Str(crate::k8s::image_repository(i))),
            Field::Identity => opt(&context.identity),
            _ => match &event.payload {
                Payload::K8sAudit(_) if input.exposure.is_some() => {
                    self.extract_exposure(arg, input)
                }
                Payload::K8sAudit(_) => self.extract_audit(arg, input),
                Payload::Runtime(_) => self.extract_runtime(arg, input),
                Payload::Cloud(cloud) => match self {
                    Field::CloudProvider => Val::Str(match cloud.provider {
                        kdr_model::CloudProvider::Azure => "azure",
                        kdr_model::CloudProvider::Aws => "aws",
                        kdr_model::CloudProvider::Gcp => "gcp",
                    }),
                    Field::CloudOperation => Val::Str(&cloud.operation),
                    Field::CloudPrincipalId => Val::Str(&cloud.principal_id),
                    Field::CloudPrincipalType => Val::Str(&cloud.principal_type),
                    Field::CloudResourceId => Val::Str(&cloud.resource_id),
                    Field::CloudStatus => Val::Str(&cloud.status),
                    Field::CloudUserAgent => Val::Str(&cloud.user_agent),
                    _ => Val::Missing,
                },
            },
        }
    }

    fn extract_audit<'a>(self, arg: &FieldArg, input: &'a Input<'_>) -> Val<'a> {
        let Payload::K8sAudit(audit) = &input.event.payload else {
            return Val::Missing;
        };
        let target = audit.object_ref.as_ref();
        let non_empty = |s: &'a str| {
            if s.is_empty() {
                Val::Missing
            } else {
                Val::Str(s)
            }
        };
        match self {
            Field::KaAuditId => Val::Str(&input.event.id),
            Field::KaStage => Val::Str(&audit.stage),
            Field::KaLevel => Val::Str(match audit.level {
                kdr_model::AuditLevel::None => "None",
                kdr_model::AuditLevel::Metadata => "Metadata",
                kdr_model::AuditLevel::Request => "Request",
                kdr_model::AuditLevel::RequestResponse => "RequestResponse",
            }),
            Field::KaVerb => Val::Str(&audit.verb),
            Field::KaUri => Val::Str(&audit.request_uri),
            Field::KaUserName => Val::Str(&audit.user.username),
            Field::KaUserGroups => Val::Strs(&audit.user.groups),
            Field::KaUserKind => Val::Str(user_kind(&audit.user.username)),
            Field::KaImpUserName => audit
                .impersonated_user
                .as_ref()
                .map_or(Val::Missing, |u| Val::Str(&u.username)),
            Field::KaUserAgent => Val::Str(&audit.user_agent),
            Field::KaSourceIps => Val::Strs(&input.event.context.source_ips),
            Field::KaTargetResource => target.map_or(Val::Missing, |t| Val::Str(&t.resource)),
            Field::KaTargetSubresource => target.map_or(Val::Missing, |t| Val::Str(&t.subresource)),
            Field::KaTargetNamespace => target.map_or(Val::Missing, |t| non_empty(&t.namespace)),
            Field::KaTargetName => match target {
                Some(t) if !t.name.is_empty() => Val::Str(&t.name),
                // A create names its object only in the body.
                _ => input.object().map_or(Val::Missing, |o| non_empty(&o.name)),
            },
            Field::KaTargetApiGroup => target.map_or(Val::Missing, |t| Val::Str(&t.api_group)),
            Field::KaTargetScope => target.map_or(Val::Missing, |t| {
                Val::Str(if t.namespace.is_empty() {
                    "cluster"
                } else {
                    "namespaced"
                })
            }),
            Field::KaTargetKind => input.object().map_or(Val::Missing, |o| non_empty(&o.kind)),
            Field::KaResponseCode => audit
                .response_code
                .map_or(Val::Missing, |c| Val::Int(i64::from(c))),
            Field::KaFailed => audit
                .response_code
                .map_or(Val::Missing, |_| Val::Bool(audit.failed())),
            Field::KaAuthDecision => annotation(audit, "authorization.k8s.io/decision"),
            Field::KaAnnotation => match arg {
                FieldArg::Text(key) => annotation(audit, key),
                _ => Val::Missing,
            },
            Field::KaReqName => input.object().map_or(Val::Missing, |o| Val::Str(&o.name)),
            Field::KaReqLabels => input
                .object()
                .map_or(Val::Missing, |o| Val::Strs(&o.labels)),
            _ => self.extract_audit_object(arg, input),
        }
    }

    fn extract_audit_object<'a>(self, arg: &FieldArg, input: &'a Input<'_>) -> Val<'a> {
        let Some(object) = input.object() else {
            return Val::Missing;
        };
        if let Some(wl) = &object.workload {
            let val = match self {
                Field::KaReqWorkloadKind => Val::Str(&wl.kind),
                Field::KaReqPodImages => Val::Strs(&wl.images),
                Field::KaReqPodImageRepos => Val::Strs(&wl.image_repositories),
                Field::KaReqPodContainerNames => Val::Strs(&wl.container_names),
                Field::KaReqPodPrivileged => Val::Bools(&wl.privileged),
                Field::KaReqPodPrivilegedContainers => Val::Strs(&wl.privileged_containers),
                Field::KaReqPodAllowPrivEsc => Val::Bools(&wl.allow_privilege_escalation),
                Field::KaReqPodAddCaps => Val::Strs(&wl.add_capabilities),
                Field::KaReqPodEnv => env_val(&wl.env, arg),
                Field::KaReqPodCommand => Val::Strs(&wl.command_lines),
                Field::KaReqPodPorts => Val::Ints(&wl.container_ports),
                Field::KaReqPodHostPorts => Val::Ints(&wl.host_ports),
                Field::KaReqPodHostPaths => Val::Strs(&wl.host_paths),
                Field::KaReqPodHostPathVolumes => Val::Strs(&wl.host_path_volumes),
                Field::KaReqPodVolumeTypes => Val::Strs(&wl.volume_types),
                Field::KaReqPodHostNetwork => Val::Bool(wl.host_network.unwrap_or(false)),
                Field::KaReqPodHostPid => Val::Bool(wl.host_pid.unwrap_or(false)),
                Field::KaReqPodHostIpc => Val::Bool(wl.host_ipc.unwrap_or(false)),
                Field::KaReqPodServiceAccount => {
                    Val::Str(wl.service_account.as_deref().unwrap_or("default"))
                }
                Field::KaReqPodLabels => Val::Strs(&wl.pod_labels),
                Field::KaReqPodRunAsUser => Val::Ints(&wl.run_as_user),
                _ => Val::Missing,
            };
            return val;
        }
        if let Some(svc) = &object.service {
            return match self {
                Field::KaReqServiceType => Val::Str(&svc.service_type),
                Field::KaReqServicePorts => Val::Ints(&svc.ports),
                Field::KaReqServiceSelector => Val::Strs(&svc.selector),
                Field::KaReqServiceSourceRanges => Val::Strs(&svc.source_ranges),
                _ => Val::Missing,
            };
        }
        if let Some(role) = &object.role {
            return match self {
                Field::KaReqRoleVerbs => Val::Strs(&role.verbs),
                Field::KaReqRoleResources => Val::Strs(&role.resources),
                Field::KaReqRoleApiGroups => Val::Strs(&role.api_groups),
                Field::KaReqRoleGrants => Val::Strs(&role.grants),
                Field::KaReqRoleNonResourceUrls => Val::Strs(&role.non_resource_urls),
                _ => Val::Missing,
            };
        }
        if let Some(binding) = &object.binding {
            return match self {
                Field::KaReqBindingRole => Val::Str(&binding.role_name),
                Field::KaReqBindingRoleKind => Val::Str(&binding.role_kind),
                Field::KaReqBindingSubjects => Val::Strs(&binding.subjects),
                _ => Val::Missing,
            };
        }
        if let Some(config_map) = &object.config_map {
            return match self {
                Field::KaReqConfigMapKeys => Val::Strs(&config_map.keys),
                Field::KaReqConfigMapValues => Val::Strs(&config_map.values),
                _ => Val::Missing,
            };
        }
        if let Some(webhook) = &object.webhook {
            return match self {
                Field::KaReqWebhookNames => Val::Strs(&webhook.names),
                Field::KaReqWebhookTargets => Val::Strs(&webhook.targets),
                Field::KaReqWebhookResources => Val::Strs(&webhook.resources),
                _ => Val::Missing,
            };
        }
        Val::Missing
    }

    fn extract_exposure<'a>(self, arg: &FieldArg, input: &'a Input<'_>) -> Val<'a> {
        let Some(exposure) = input.exposure else {
            return Val::Missing;
        };
        let workload = exposure.workload.as_deref();
        let Some(wl) = workload else {
            return match self {
                Field::WlKind
                | Field::WlName
                | Field::WlNamespace
                | Field::WlImages
                | Field::WlImageRepos
                | Field::WlEnv
                | Field::WlCommand
                | Field::WlPorts
                | Field::WlLabels
                | Field::WlConfig
                | Field::WlConfigMaps
                | Field::WlPgHbaTrust => Val::Missing,
                _ => self.extract_service_side(arg, input),
            };
        };
        match self {
            Field::WlKind => Val::Str(&wl.kind),
            Field::WlName => Val::Str(&wl.name),
            Field::WlNamespace => Val::Str(&wl.namespace),
            Field::WlImages => Val::Strs(&wl.images),
            Field::WlImageRepos => Val::Strs(&wl.image_repositories),
            Field::WlEnv => env_val(&wl.env, arg),
            Field::WlCommand => Val::Strs(&wl.command_lines),
            Field::WlPorts => Val::Ints(&wl.container_ports),
            Field::WlLabels => match arg {
                FieldArg::Text(key) => {
                    label_value(&wl.pod_label_map, key).map_or(Val::Missing, Val::Str)
                }
                _ => Val::Strs(&wl.pod_labels),
            },
            Field::WlConfig => Val::Strs(&exposure.config_data),
            Field::WlConfigMaps => Val::Strs(&exposure.config_maps),
            Field::WlPgHbaTrust => Val::Strs(&exposure.pg_hba_trust),
            _ => self.extract_service_side(arg, input),
        }
    }

    /// Exposure fields that do not depend on the workload.
    fn extract_service_side<'a>(self, arg: &FieldArg, input: &'a Input<'_>) -> Val<'a> {
        let Some(exposure) = input.exposure else {
            return Val::Missing;
        };
        let svc = &exposure.service;
        match self {
            Field::SvcName => Val::Str(&svc.name),
            Field::SvcNamespace => Val::Str(&svc.namespace),
            Field::SvcType => Val::Str(&svc.service_type),
            Field::SvcPorts => Val::Ints(&svc.ports),
            Field::SvcTargetPorts => Val::Strs(&svc.target_ports),
            Field::SvcPortNames => Val::Strs(&svc.port_names),
            Field::SvcSelector => Val::Strs(&svc.selector),
            Field::SvcSourceRanges => Val::Strs(&svc.source_ranges),
            Field::SvcWidestPrefix => Val::Int(widest_prefix(&svc.source_ranges)),
            Field::InventoryNamespaces => Val::Strs(&exposure.namespaces),
            // Audit fields of the event that completed the join.
            _ => self.extract_audit(arg, input),
        }
    }

    fn extract_runtime<'a>(self, arg: &FieldArg, input: &'a Input<'_>) -> Val<'a> {
        let Some(runtime) = input.runtime() else {
            return Val::Missing;
        };
        let process = &runtime.process;
        let action = &runtime.action;
        let parent = process.ancestors.first();
        match self {
            Field::EvtType => Val::Str(action.type_name()),
            Field::EvtRes => match action {
                RuntimeAction::Open { result, .. } | RuntimeAction::Connect { result, .. } => {
                    Val::Int(*result)
                }
                _ => Val::Missing,
            },
            Field::ProcName => Val::Str(process_name(process)),
            Field::ProcComm => Val::Str(&process.comm),
            Field::ProcExe => process
                .args
                .first()
                .map_or(Val::Missing, |a| Val::Str(a.as_str())),
            Field::ProcExePath => Val::Str(&process.exe),
            Field::ProcArgs => Val::Str(input.args(runtime)),
            Field::ProcArgv => Val::Strs(&process.args),
            Field::ProcCmdline => Val::Str(input.cmdline(runtime)),
            Field::ProcNames => Val::Names(input.process_names(runtime)),
            Field::ProcIsExeUpperLayer => Val::Bool(process.exe_upper_layer),
            Field::ProcArgsTruncated => Val::Bool(process.args_truncated),
            Field::ProcPid => Val::Int(i64::from(process.pid)),
            Field::ProcPpid => Val::Int(i64::from(process.ppid)),
            Field::ProcCwd => non_empty_str(&process.cwd),
            Field::ProcPname => parent.map_or(Val::Missing, |p| Val::Str(basename(&p.exe))),
            Field::ProcPexePath => parent.map_or(Val::Missing, |p| Val::Str(&p.exe)),
            Field::ProcPcmdline => input.parent_cmdline(runtime).map_or(Val::Missing, Val::Str),
            Field::ProcAname => match arg {
                FieldArg::Index(n) => n
                    .checked_sub(1)
                    .and_then(|i| input.ancestor_names(runtime).get(i))
                    .map_or(Val::Missing, |s| Val::Str(s)),
                _ => Val::Strs(input.ancestor_names(runtime)),
            },
            Field::ProcAexePath => Val::Strs(input.ancestor_paths(runtime)),
            Field::ProcPnames => parent.map_or(Val::Missing, |p| {
                let argv0 = p.args.first().map_or("", |a| basename(a));
                Val::Names([basename(&p.exe), argv0, argv0])
            }),
            Field::ProcAnames => Val::StrRefs(input.ancestor_all_names(runtime)),
            Field::ProcStdinType => Val::Str(fd_kind(process.stdio[0])),
            Field::ProcStdoutType => Val::Str(fd_kind(process.stdio[1])),
            Field::ProcStderrType => Val::Str(fd_kind(process.stdio[2])),
            Field::ProcStdioSocket => Val::Bool(process.stdio.contains(&kdr_model::FdKind::Socket)),
            Field::UserUid => Val::Int(i64::from(process.uid)),
            Field::UserEuid => Val::Int(i64::from(process.euid)),
            Field::UserName => process.user.as_deref().map_or(Val::Missing, Val::Str),
            Field::ContainerPrivileged => {
                runtime.container_privileged.map_or(Val::Missing, Val::Bool)
            }
            Field::ContainerImageId => runtime.image_id.as_deref().map_or(Val::Missing, Val::Str),
            Field::FdName | Field::FdDirectory | Field::FdFilename => {
                let Some(name) = fd_name(action) else {
                    return Val::Missing;
                };
                Val::Str(match self {
                    Field::FdDirectory => dirname(name),
                    Field::FdFilename => basename(name),
                    _ => name,
                })
            }
            Field::FdTarget => match action {
                RuntimeAction::Rename { to, .. } => Val::Str(to),
                _ => Val::Missing,
            },
            Field::EvtIsOpenRead
            | Field::EvtIsOpenWrite
            | Field::EvtIsOpenCreate
            | Field::EvtIsOpenTruncate => match action {
                RuntimeAction::Open { flags, .. } => Val::Bool(open_flag(self, *flags)),
                _ => Val::Missing,
            },
            Field::FdRip | Field::FdRport | Field::FdSockFamily => {
                let remote = match action {
                    RuntimeAction::Connect { remote, .. }
                    | RuntimeAction::Accept { remote, .. } => remote,
                    RuntimeAction::Listen { local } => local,
                    _ => return Val::Missing,
                };
                match self {
                    Field::FdRip => Val::Str(&remote.address),
                    Field::FdRport => Val::Int(i64::from(remote.port)),
                    _ => Val::Str(match remote.family {
                        kdr_model::AddressFamily::Inet => "inet",
                        kdr_model::AddressFamily::Inet6 => "inet6",
                        kdr_model::AddressFamily::Unix => "unix",
                        kdr_model::AddressFamily::Other => "other",
                    }),
                }
            }
            Field::FdLip | Field::FdLport => {
                let local = match action {
                    RuntimeAction::Connect { local, .. } | RuntimeAction::Accept { local, .. } => {
                        local.as_ref()
                    }
                    RuntimeAction::Listen { local } => Some(local),
                    _ => None,
                };
                match (self, local) {
                    (_, None) => Val::Missing,
                    (Field::FdLip, Some(l)) => Val::Str(&l.address),
                    (_, Some(l)) => Val::Int(i64::from(l.port)),
                }
            }
            Field::EvtNsFlags => match action {
                RuntimeAction::Unshare { flags }
                | RuntimeAction::Setns { flags }
                | RuntimeAction::Clone { flags } => Val::Strs(input.namespace_flags(*flags)),
                _ => Val::Missing,
            },
            Field::EvtSignal => match action {
                RuntimeAction::Kill { signal, .. } => Val::Int(i64::from(*signal)),
                _ => Val::Missing,
            },
            Field::EvtTargetPid => match action {
                RuntimeAction::Kill { target_pid, .. }
                | RuntimeAction::Ptrace { target_pid, .. } => Val::Int(i64::from(*target_pid)),
                _ => Val::Missing,
            },
            Field::EvtTargetExe | Field::EvtTargetName => match action {
                RuntimeAction::Kill {
                    target_exe: Some(exe),
                    ..
                } => Val::Str(if self == Field::EvtTargetName {
                    basename(exe)
                } else {
                    exe
                }),
                _ => Val::Missing,
            },
            Field::EvtChmodMode | Field::EvtChmodExec => match action {
                RuntimeAction::Chmod { mode, .. } if self == Field::EvtChmodMode => {
                    Val::Int(i64::from(*mode))
                }
                RuntimeAction::Chmod { mode, .. } => Val::Bool(mode & 0o111 != 0),
                _ => Val::Missing,
            },
            Field::EvtPtraceRequest => match action {
                RuntimeAction::Ptrace { request, .. } => Val::Int(*request),
                _ => Val::Missing,
            },
            Field::EvtModuleName => match action {
                RuntimeAction::ModuleLoad { name } => Val::Str(name),
                _ => Val::Missing,
            },
            Field::EvtMountSource | Field::EvtMountTarget | Field::EvtMountFstype => match action {
                RuntimeAction::Mount {
                    source,
                    target,
                    fstype,
                } => Val::Str(match self {
                    Field::EvtMountSource => source,
                    Field::EvtMountTarget => target,
                    _ => fstype,
                }),
                _ => Val::Missing,
            },
            Field::EvtMemfdName => match action {
                RuntimeAction::MemfdCreate { name } => Val::Str(name),
                _ => Val::Missing,
            },
            Field::EvtExitCode => match action {
                RuntimeAction::Exit { code } => Val::Int(i64::from(*code)),
                _ => Val::Missing,
            },
            _ => Val::Missing,
        }
    }
}

pub fn process_name(process: &kdr_model::Process) -> &str {
    if process.exe.is_empty() {
        &process.comm
    } else {
        basename(&process.exe)
    }
}

fn non_empty_str(s: &str) -> Val<'_> {
    if s.is_empty() {
        Val::Missing
    } else {
        Val::Str(s)
    }
}

fn user_kind(username: &str) -> &'static str {
    if username.starts_with("system:serviceaccount:") {
        "serviceaccount"
    } else if username.starts_with("system:node:") {
        "node"
    } else if username == "system:anonymous" {
        "anonymous"
    } else {
        "user"
    }
}

fn annotation<'a>(audit: &'a kdr_model::KubeAudit, key: &str) -> Val<'a> {
    audit
        .annotations
        .iter()
        .find(|(k, _)| k == key)
        .map_or(Val::Missing, |(_, v)| Val::Str(v))
}

fn env_val<'a>(env: &'a [String], arg: &FieldArg) -> Val<'a> {
    match arg {
        FieldArg::Text(name) => Val::OwnedStrs(env_values(env, name)),
        _ => Val::Strs(env),
    }
}

fn fd_kind(kind: kdr_model::FdKind) -> &'static str {
    match kind {
        kdr_model::FdKind::Unknown => "unknown",
        kdr_model::FdKind::File => "file",
        kdr_model::FdKind::Tty => "tty",
        kdr_model::FdKind::Pipe => "pipe",
        kdr_model::FdKind::Socket => "socket",
        kdr_model::FdKind::Closed => "closed",
    }
}

fn fd_name(action: &RuntimeAction) -> Option<&str> {
    match action {
        RuntimeAction::Open { path, .. }
        | RuntimeAction::Unlink { path }
        | RuntimeAction::Utimes { path }
        | RuntimeAction::Chmod { path, .. } => Some(path),
        RuntimeAction::Rename { from, .. } => Some(from),
        RuntimeAction::Connect { remote, .. } | RuntimeAction::Accept { remote, .. } => {
            Some(&remote.address)
        }
        RuntimeAction::Listen { local } => Some(&local.address),
        _ => None,
    }
}

const O_ACCMODE: u32 = 0o3;
const O_WRONLY: u32 = 0o1;
const O_RDWR: u32 = 0o2;
const O_CREAT: u32 = 0o100;
const O_TRUNC: u32 = 0o1000;

fn open_flag(field: Field, flags: u32) -> bool {
    let access = flags & O_ACCMODE;
    match field {
        Field::EvtIsOpenRead => access != O_WRONLY,
        Field::EvtIsOpenWrite => access == O_WRONLY || access == O_RDWR,
        Field::EvtIsOpenCreate => flags & O_CREAT != 0,
        _ => flags & O_TRUNC != 0,
    }
}

/// The shortest prefix among CIDR source ranges: 0 when no range restricts the source (none
/// given, or one that covers everything). Unparseable ranges count as open.
fn widest_prefix(ranges: &[String]) -> i64 {
    ranges
        .iter()
        .map(|range| {
            range
                .trim()
                .split_once('/')
                .and_then(|(_, bits)| bits.parse::<i64>().ok())
                .unwrap_or(0)
        })
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order_and_names_are_unique() {
        for (i, info) in FIELDS.iter().enumerate() {
            assert_eq!(info.field as usize, i, "{}", info.name);
        }
        let mut names: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len());
    }

    #[test]
    fn widest_prefix_treats_missing_ranges_as_open() {
        assert_eq!(widest_prefix(&[]), 0);
        assert_eq!(widest_prefix(&["203.0.113.0/24".into()]), 24);
        assert_eq!(
            widest_prefix(&["203.0.113.0/24".into(), "10.0.0.0/8".into()]),
            8
        );
        assert_eq!(widest_prefix(&["::/0".into()]), 0);
    }
}
