#!/usr/bin/env python3
"""Generate Kubernetes API server audit data for kdr's control-plane tests and benchmarks.

Python 3.11, standard library only, deterministic for a given seed.

Subcommands
    quiet    --out FILE [--events N] [--seed S]   routine cluster traffic that must raise no alert
    bench    --events N --out FILE [--seed S]     benchmark mix: routine traffic + ~1% alerting events
    cases    [--dir DIR]                          testdata/audit/cases/<ALERT_ID>.json
    attack   [--out FILE]                         examples/attack.jsonl (one attack story)
    validate [FILES...]                           parse and check every generated file
    all                                           cases + quiet + attack + validate (the committed data)

Every audit record is an `audit.k8s.io/v1` `Event` as kube-apiserver writes it with
`--audit-log-path` (one JSON object per line, stage ResponseComplete). The recorded cluster
uses the audit policy in testdata/audit/policy.yaml: RequestResponse for writes, Request for
reads of known APIs, Metadata for secrets, tokens, events, leases, configmap reads and the
health/discovery URLs. Some case variants deliberately use another level (a Metadata-only
policy, or Request for writes) to test rules against missing bodies.

How objects are encoded, as the API server does:
  * create/update: requestObject is the decoded *typed* object: defaults applied, before
    admission (so `metadata.creationTimestamp: null`, `resources: {}`, `status: {}`, no
    service-account token volume); responseObject is the stored object after admission
    (uid, resourceVersion, managedFields, token volume, default tolerations, status).
  * patch: requestObject is the patch document exactly as sent (strategic merge, merge or
    JSON patch); responseObject is the full resulting object.
  * objects created with generateName (controllers) have no objectRef.name: the name is only
    in the responseObject.
  * requests refused by authorization carry no requestObject (the body is never read); at
    RequestResponse level the responseObject is the `Status` that was returned.
  * exec/attach/port-forward upgrades answer 101.

Addresses: nodes 10.240.0.0/16, pods 10.244.0.0/16, services 10.96.0.0/12; "external"
addresses only from 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24.
testdata/audit/intel-test.txt lists 198.51.100.23 and 203.0.113.0/28 as proxies: no other
generated traffic uses those addresses.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import os
import random
import re
import sys
import uuid as uuidlib

# ---------------------------------------------------------------------------------------------
# Versions and topology of the recorded cluster

K8S_VERSION = "v1.30.4"
K8S_COMMIT = "a51b3b7"
OLD_KUBECTL = "kubectl/v1.28.9 (linux/amd64) kubernetes/587f5fe"


def component_ua(name: str, suffix: str | None = None, version: str = K8S_VERSION) -> str:
    ua = f"{name}/{version} (linux/amd64) kubernetes/{K8S_COMMIT}"
    return f"{ua}/{suffix}" if suffix else ua


KUBECTL = component_ua("kubectl")
KUBECTL_MAC = f"kubectl/{K8S_VERSION} (darwin/arm64) kubernetes/{K8S_COMMIT}"
KCM = "kube-controller-manager"
CLIENT_GO_APP = "{}/v0.0.0 (linux/amd64) kubernetes/$Format"   # client-go default for unstamped binaries
HELM_UA = "Helm/3.14.4"
CURL_UA = "curl/8.5.0"
PY_REQUESTS_UA = "python-requests/2.31.0"
PY_K8S_UA = "OpenAPI-Generator/29.0.0/python"
PROBE_UA = "kube-probe/1.30"

APISERVER_IP = "10.240.0.10"
NODES = {
    "k8s-cp-01": ("10.240.0.10", "10.244.0"),
    "k8s-worker-01": ("10.240.0.21", "10.244.1"),
    "k8s-worker-02": ("10.240.0.22", "10.244.2"),
    "k8s-worker-03": ("10.240.0.23", "10.244.3"),
    "k8s-worker-04": ("10.240.0.24", "10.244.4"),
}
for _i in range(5, 61):
    NODES[f"k8s-worker-{_i:02d}"] = (f"10.240.{_i // 200}.{20 + _i % 200}", f"10.244.{_i}")
WORKERS = ["k8s-worker-01", "k8s-worker-02", "k8s-worker-03"]

# "External" addresses (documentation ranges only).
IP_BASTION = "192.0.2.10"        # kubernetes-admin's jump host
IP_ALICE = "192.0.2.44"          # platform engineer, corporate VPN egress
IP_BOB = "192.0.2.51"            # developer, corporate VPN egress
IP_CAROL = "192.0.2.57"
IP_LB_HEALTH = "192.0.2.200"     # cloud load balancer in front of the API server
IP_CLUSTER_EGRESS = "203.0.113.40"
TI_PROXY_IP = "198.51.100.23"      # listed in intel-test.txt
TI_PROXY_NET = "203.0.113.0/28"    # listed in intel-test.txt

ALNUM = "bcdfghjklmnpqrstvwxz2456789"   # k8s.io/apimachinery/pkg/util/rand alphabet

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
MD, RQ, RR = "Metadata", "Request", "RequestResponse"


def ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_s(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)


def utc(*a) -> dt.datetime:
    return dt.datetime(*a, tzinfo=dt.timezone.utc)


def sec(s: float) -> dt.timedelta:
    return dt.timedelta(seconds=s)


def stable_uuid(*key) -> str:
    h = hashlib.md5("\x00".join(str(k) for k in key).encode()).digest()
    return str(uuidlib.UUID(bytes=h, version=4))


def jdump(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Identities


class Ident:
    """Who sends a request: user info, where from, with which client, and why RBAC allowed it."""

    def __init__(self, username, groups, uid=None, extra=None, src=None, ua=KUBECTL, authz=""):
        self.username = username
        self.groups = list(groups)
        self.uid = uid
        self.extra = extra
        self.src = src if isinstance(src, list) else [src or APISERVER_IP]
        self.ua = ua
        self.authz = authz

    def user(self):
        u = {"username": self.username}
        if self.uid:
            u["uid"] = self.uid
        u["groups"] = list(self.groups)
        if self.extra:
            u["extra"] = copy.deepcopy(self.extra)
        return u

    def but(self, **kw):
        o = copy.copy(self)
        for k, v in kw.items():
            if k == "src" and not isinstance(v, list):
                v = [v]
            setattr(o, k, v)
        return o

    @property
    def sa_name(self):
        p = self.username.split(":")
        return p[3] if len(p) == 4 and p[1] == "serviceaccount" else None


def rbac_reason(binding_kind, binding, role_kind, role, subj_kind, subj):
    return f'RBAC: allowed by {binding_kind} "{binding}" of {role_kind} "{role}" to {subj_kind} "{subj}"'


def user_ident(name, groups, src, ua=KUBECTL, authz="", uid=None, extra=None):
    return Ident(name, list(groups) + ["system:authenticated"], uid=uid, extra=extra, src=src, ua=ua, authz=authz)


ADMIN = user_ident("kubernetes-admin", ["kubeadm:cluster-admins"], IP_BASTION,
                   authz=rbac_reason("ClusterRoleBinding", "kubeadm:cluster-admins", "ClusterRole",
                                     "cluster-admin", "Group", "kubeadm:cluster-admins"))
ALICE = user_ident("alice@example.com", ["platform-team"], IP_ALICE, ua=KUBECTL_MAC,
                   authz=rbac_reason("ClusterRoleBinding", "platform-team-cluster-admin", "ClusterRole",
                                     "cluster-admin", "Group", "platform-team"))
BOB = user_ident("bob@example.com", ["shop-devs"], IP_BOB,
                 authz=rbac_reason("RoleBinding", "shop-devs/shop", "ClusterRole", "edit", "Group", "shop-devs"))
CAROL = user_ident("carol@example.com", ["data-team"], IP_CAROL, ua=KUBECTL_MAC,
                   authz=rbac_reason("RoleBinding", "data-team/analytics", "ClusterRole", "edit", "Group", "data-team"))
ANON = Ident("system:anonymous", ["system:unauthenticated"], src=IP_LB_HEALTH, ua="Go-http-client/1.1",
             authz=rbac_reason("ClusterRoleBinding", "system:public-info-viewer", "ClusterRole",
                               "system:public-info-viewer", "Group", "system:unauthenticated"))
APISERVER = Ident("system:apiserver", ["system:authenticated", "system:masters"],
                  uid=stable_uuid("apiserver-loopback"), src="::1", ua=component_ua("kube-apiserver"), authz="")
KCM_IDENT = Ident("system:kube-controller-manager", ["system:authenticated"], src=APISERVER_IP,
                  ua=component_ua(KCM, "shared-informers"),
                  authz=rbac_reason("ClusterRoleBinding", "system:kube-controller-manager", "ClusterRole",
                                    "system:kube-controller-manager", "User", "system:kube-controller-manager"))
SCHED_IDENT = Ident("system:kube-scheduler", ["system:authenticated"], src=APISERVER_IP,
                    ua=component_ua("kube-scheduler", "scheduler"),
                    authz=rbac_reason("ClusterRoleBinding", "system:kube-scheduler", "ClusterRole",
                                      "system:kube-scheduler", "User", "system:kube-scheduler"))


def sa_groups(ns):
    return ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]


def sa_ident(ns, name, *, pod=None, node=None, src=None, ua=None, authz=None, jti=None):
    """A service account. With `pod`, the token is a bound token mounted in that pod (1.30
    adds the node to the token's extra)."""
    extra = {"authentication.kubernetes.io/credential-id": [f"JTI={jti or stable_uuid('jti', ns, name, pod)}"]}
    if pod:
        if node:
            extra["authentication.kubernetes.io/node-name"] = [node]
            extra["authentication.kubernetes.io/node-uid"] = [stable_uuid("node", node)]
        extra["authentication.kubernetes.io/pod-name"] = [pod]
        extra["authentication.kubernetes.io/pod-uid"] = [stable_uuid("pod", ns, pod)]
    if authz is None:
        authz = rbac_reason("RoleBinding", f"{name}/{ns}", "Role", name, "ServiceAccount", f"{name}/{ns}")
    return Ident(f"system:serviceaccount:{ns}:{name}", sa_groups(ns), uid=stable_uuid("sa", ns, name),
                 extra=extra, src=src or APISERVER_IP, ua=ua or CLIENT_GO_APP.format(name), authz=authz)


def controller(name):
    """A kube-controller-manager controller running with --use-service-account-credentials."""
    return sa_ident("kube-system", name, src=APISERVER_IP, ua=component_ua(KCM, f"system:serviceaccount:kube-system:{name}"),
                    authz=rbac_reason("ClusterRoleBinding", f"system:controller:{name}", "ClusterRole",
                                      f"system:controller:{name}", "ServiceAccount", f"{name}/kube-system"))


def kubelet(node):
    return Ident(f"system:node:{node}", ["system:nodes", "system:authenticated"], src=NODES[node][0],
                 ua=component_ua("kubelet"), authz="")


# ---------------------------------------------------------------------------------------------
# API types


class Kind:
    def __init__(self, kind, group, version, resource, namespaced=True, generation=False):
        self.kind, self.group, self.version, self.resource = kind, group, version, resource
        self.namespaced, self.generation = namespaced, generation

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, ns=None, name=None, sub=None):
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and ns:
            base += f"/namespaces/{ns}"
        base += f"/{self.resource}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


KINDS = {k.kind: k for k in [
    Kind("Pod", "", "v1", "pods"),
    Kind("Service", "", "v1", "services"),
    Kind("ConfigMap", "", "v1", "configmaps"),
    Kind("Secret", "", "v1", "secrets"),
    Kind("ServiceAccount", "", "v1", "serviceaccounts"),
    Kind("Namespace", "", "v1", "namespaces", namespaced=False),
    Kind("Node", "", "v1", "nodes", namespaced=False),
    Kind("Endpoints", "", "v1", "endpoints"),
    Kind("Deployment", "apps", "v1", "deployments", generation=True),
    Kind("DaemonSet", "apps", "v1", "daemonsets", generation=True),
    Kind("StatefulSet", "apps", "v1", "statefulsets", generation=True),
    Kind("ReplicaSet", "apps", "v1", "replicasets", generation=True),
    Kind("ControllerRevision", "apps", "v1", "controllerrevisions"),
    Kind("Job", "batch", "v1", "jobs", generation=True),
    Kind("CronJob", "batch", "v1", "cronjobs", generation=True),
    Kind("Role", "rbac.authorization.k8s.io", "v1", "roles"),
    Kind("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False),
    Kind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings"),
    Kind("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False),
    Kind("MutatingWebhookConfiguration", "admissionregistration.k8s.io", "v1",
         "mutatingwebhookconfigurations", namespaced=False, generation=True),
    Kind("ValidatingWebhookConfiguration", "admissionregistration.k8s.io", "v1",
         "validatingwebhookconfigurations", namespaced=False, generation=True),
    Kind("Lease", "coordination.k8s.io", "v1", "leases"),
    Kind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices"),
    Kind("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers"),
    Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets"),
    Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", generation=True),
    Kind("Ingress", "networking.k8s.io", "v1", "ingresses", generation=True),
    Kind("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims"),
    Kind("PersistentVolume", "", "v1", "persistentvolumes", namespaced=False),
    Kind("StorageClass", "storage.k8s.io", "v1", "storageclasses", namespaced=False),
    Kind("CSINode", "storage.k8s.io", "v1", "csinodes", namespaced=False),
    Kind("CSIDriver", "storage.k8s.io", "v1", "csidrivers", namespaced=False),
    Kind("RuntimeClass", "node.k8s.io", "v1", "runtimeclasses", namespaced=False),
    Kind("IPPool", "crd.projectcalico.org", "v1", "ippools", namespaced=False),
    Kind("FelixConfiguration", "crd.projectcalico.org", "v1", "felixconfigurations", namespaced=False),
    Kind("ClusterInformation", "crd.projectcalico.org", "v1", "clusterinformations", namespaced=False),
    Kind("PriorityClass", "scheduling.k8s.io", "v1", "priorityclasses", namespaced=False),
    Kind("ValidatingAdmissionPolicy", "admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", namespaced=False),
]}
CORE_EVENT = Kind("Event", "", "v1", "events")
NEW_EVENT = Kind("Event", "events.k8s.io", "v1", "events")
RESOURCE_KINDS = {(k.group, k.resource): k for k in list(KINDS.values()) + [CORE_EVENT, NEW_EVENT]}


def kind_of(obj):
    av = obj.get("apiVersion", "v1")
    if obj.get("kind") == "Event":
        return NEW_EVENT if av.startswith("events.k8s.io") else CORE_EVENT
    return KINDS[obj["kind"]]


def objref(kind: Kind, ns=None, name=None, sub=None, rv=None):
    r = {"resource": kind.resource}
    if kind.namespaced and ns:
        r["namespace"] = ns
    if name:
        r["name"] = name
    if kind.group:
        r["apiGroup"] = kind.group
    r["apiVersion"] = kind.version
    if rv:
        r["resourceVersion"] = rv
    if sub:
        r["subresource"] = sub
    return r


def ordered(d, keys):
    out = {k: d[k] for k in keys if k in d}
    out.update({k: v for k, v in d.items() if k not in out})
    return out


META_ORDER = ["name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
              "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
              "finalizers", "managedFields"]
CONTAINER_ORDER = ["name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
                   "volumeMounts", "livenessProbe", "readinessProbe", "startupProbe", "terminationMessagePath",
                   "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "tty"]
PODSPEC_ORDER = ["volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
                 "terminationGracePeriodSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
                 "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC", "securityContext",
                 "affinity", "schedulerName", "tolerations", "priorityClassName", "priority", "enableServiceLinks",
                 "preemptionPolicy"]


def top_order(o):
    o = ordered(o, ["kind", "apiVersion", "metadata", "spec", "data", "binaryData", "type", "rules", "subjects",
                    "roleRef", "webhooks", "status"])
    if "metadata" in o:
        o["metadata"] = ordered(o["metadata"], META_ORDER)
    return o


# ---------------------------------------------------------------------------------------------
# Object helpers (what a user writes) and server-side defaulting


def ctr(name, image, *, command=None, args=None, env=None, ports=None, mounts=None, sc=None, resources=None,
        pull=None, probes=None, stdin=None, tty=None):
    c = {"name": name, "image": image}
    if command:
        c["command"] = list(command)
    if args:
        c["args"] = list(args)
    if ports:
        c["ports"] = [p if isinstance(p, dict) else {"containerPort": p} for p in ports]
    if env:
        c["env"] = [{"name": k, "value": v} if not isinstance(v, dict) else {"name": k, "valueFrom": v}
                    for k, v in (env.items() if isinstance(env, dict) else env)]
    if resources:
        c["resources"] = resources
    if mounts:
        c["volumeMounts"] = [m if isinstance(m, dict) else {"name": m[0], "mountPath": m[1]} for m in mounts]
    if probes:
        c.update(probes)
    if pull:
        c["imagePullPolicy"] = pull
    if sc is not None:
        c["securityContext"] = sc
    if stdin:
        c["stdin"] = True
    if tty:
        c["tty"] = True
    return c


def res(cpu_req="100m", mem_req="128Mi", cpu_lim=None, mem_lim="256Mi"):
    r = {}
    lim = {}
    if cpu_lim:
        lim["cpu"] = cpu_lim
    if mem_lim:
        lim["memory"] = mem_lim
    if lim:
        r["limits"] = lim
    r["requests"] = {"cpu": cpu_req, "memory": mem_req}
    return r


def hostpath(name, path, type_=None):
    v = {"name": name, "hostPath": {"path": path}}
    if type_ is not None:
        v["hostPath"]["type"] = type_
    return v


def cm_vol(name, cm):
    return {"name": name, "configMap": {"name": cm}}


def secret_vol(name, secret):
    return {"name": name, "secret": {"secretName": secret}}


def empty_vol(name):
    return {"name": name, "emptyDir": {}}


def podspec(containers, *, init=None, volumes=None, sa=None, host_network=None, host_pid=None, host_ipc=None,
            node_selector=None, tolerations=None, priority_class=None, restart=None, sc=None, node=None,
            affinity=None, automount=None, dns_policy=None, grace=None):
    s = {}
    if volumes:
        s["volumes"] = list(volumes)
    if init:
        s["initContainers"] = list(init)
    s["containers"] = list(containers)
    if restart:
        s["restartPolicy"] = restart
    if grace is not None:
        s["terminationGracePeriodSeconds"] = grace
    if dns_policy:
        s["dnsPolicy"] = dns_policy
    if node_selector:
        s["nodeSelector"] = node_selector
    if sa:
        s["serviceAccountName"] = sa
    if automount is not None:
        s["automountServiceAccountToken"] = automount
    if node:
        s["nodeName"] = node
    if host_network:
        s["hostNetwork"] = True
    if host_pid:
        s["hostPID"] = True
    if host_ipc:
        s["hostIPC"] = True
    if sc is not None:
        s["securityContext"] = sc
    if affinity:
        s["affinity"] = affinity
    if tolerations:
        s["tolerations"] = list(tolerations)
    if priority_class:
        s["priorityClassName"] = priority_class
    return s


def _pull_policy(image):
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_container(c, host_network=False):
    c = copy.deepcopy(c)
    if "ports" in c:
        for p in c["ports"]:
            if host_network and "hostPort" not in p:
                p["hostPort"] = p["containerPort"]
            p.setdefault("protocol", "TCP")
            ordered_p = ordered(p, ["name", "hostPort", "containerPort", "protocol"])
            p.clear()
            p.update(ordered_p)
    c.setdefault("resources", {})
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            pr = c[probe]
            if "httpGet" in pr:
                pr["httpGet"].setdefault("scheme", "HTTP")
            for k, v in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
                pr.setdefault(k, v)
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", _pull_policy(c["image"]))
    return ordered(c, CONTAINER_ORDER)


def default_volume(v):
    v = copy.deepcopy(v)
    if "hostPath" in v:
        v["hostPath"].setdefault("type", "")
    for k in ("configMap", "secret"):
        if k in v:
            v[k].setdefault("defaultMode", 420)
    if "projected" in v:
        v["projected"].setdefault("defaultMode", 420)
    return v


def default_podspec(s, *, job=False):
    """Defaulting done when the API server decodes a pod spec (SetDefaults_PodSpec & co)."""
    s = copy.deepcopy(s)
    hn = bool(s.get("hostNetwork"))
    if "volumes" in s:
        s["volumes"] = [default_volume(v) for v in s["volumes"]]
    for key in ("initContainers", "containers"):
        if key in s:
            s[key] = [default_container(c, hn) for c in s[key]]
    s.setdefault("restartPolicy", "OnFailure" if job else "Always")
    s.setdefault("terminationGracePeriodSeconds", 30)
    s.setdefault("dnsPolicy", "ClusterFirst")
    if "serviceAccountName" in s:
        s["serviceAccount"] = s["serviceAccountName"]
    s.setdefault("securityContext", {})
    s.setdefault("schedulerName", "default-scheduler")
    return ordered(s, PODSPEC_ORDER)


PRIORITY = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def admit_podspec(s, rng_suffix, ns):
    """Admission of a Pod: ServiceAccount plugin (token volume), DefaultTolerationSeconds, Priority."""
    s = copy.deepcopy(s)
    s.setdefault("serviceAccountName", "default")
    s["serviceAccount"] = s["serviceAccountName"]
    if s.get("automountServiceAccountToken") is not False:
        vname = f"kube-api-access-{rng_suffix}"
        s.setdefault("volumes", []).append({"name": vname, "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                          "fieldPath": "metadata.namespace"}}]}}],
            "defaultMode": 420}})
        for key in ("initContainers", "containers"):
            for c in s.get(key, []):
                c.setdefault("volumeMounts", []).append(
                    {"name": vname, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
    tol = s.setdefault("tolerations", [])
    keys = {t.get("key") for t in tol}
    if not any(t.get("operator") == "Exists" and not t.get("key") for t in tol):
        for k in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if k not in keys:
                tol.append({"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    s["priority"] = PRIORITY.get(s.get("priorityClassName"), 0)
    s.setdefault("enableServiceLinks", True)
    s.setdefault("preemptionPolicy", "PreemptLowerPriority")
    return ordered(s, PODSPEC_ORDER)


def template(labels, spec, annotations=None, job=False):
    md = {"creationTimestamp": None, "labels": dict(labels)}
    if annotations:
        md["annotations"] = dict(annotations)
    return {"metadata": md, "spec": default_podspec(spec, job=job)}


def meta(name=None, ns=None, labels=None, annotations=None, generate_name=None, owner=None):
    m = {}
    if name:
        m["name"] = name
    if generate_name:
        m["generateName"] = generate_name
    if ns:
        m["namespace"] = ns
    m["creationTimestamp"] = None
    if labels:
        m["labels"] = dict(labels)
    if annotations:
        m["annotations"] = dict(annotations)
    if owner:
        m["ownerReferences"] = [owner]
    return m


def owner_ref(obj, block=True):
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}


def pod_obj(name, ns, spec, labels=None, annotations=None, generate_name=None, owner=None):
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": meta(name, ns, labels, annotations, generate_name, owner),
            "spec": default_podspec(spec), "status": {}}


def deploy_obj(name, ns, spec, labels, replicas=1, annotations=None, tmpl_annotations=None, strategy=None):
    sel = {k: v for k, v in labels.items() if k in ("app", "app.kubernetes.io/name", "k8s-app", "app.kubernetes.io/instance", "istio")} or dict(labels)
    return {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": meta(name, ns, labels, annotations),
            "spec": {"replicas": replicas, "selector": {"matchLabels": sel},
                     "template": template(labels, spec, tmpl_annotations),
                     "strategy": strategy or {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": {}}


def daemonset_obj(name, ns, spec, labels, annotations=None):
    sel = {k: v for k, v in labels.items() if k in ("app", "k8s-app", "app.kubernetes.io/name", "name")} or dict(labels)
    return {"kind": "DaemonSet", "apiVersion": "apps/v1", "metadata": meta(name, ns, labels, annotations),
            "spec": {"selector": {"matchLabels": sel}, "template": template(labels, spec),
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "revisionHistoryLimit": 10},
            "status": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                       "numberReady": 0}}


def statefulset_obj(name, ns, spec, labels, replicas=1, service_name=None, vct=None):
    sel = {k: v for k, v in labels.items() if k in ("app", "app.kubernetes.io/name", "app.kubernetes.io/instance")} or dict(labels)
    s = {"replicas": replicas, "selector": {"matchLabels": sel}, "template": template(labels, spec),
         "serviceName": service_name or name, "podManagementPolicy": "OrderedReady",
         "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
         "revisionHistoryLimit": 10,
         "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}
    if vct:
        s["volumeClaimTemplates"] = vct
    return {"kind": "StatefulSet", "apiVersion": "apps/v1", "metadata": meta(name, ns, labels),
            "spec": s, "status": {"replicas": 0, "availableReplicas": 0}}


def pvc_template(name, size="10Gi"):
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "metadata": {"name": name, "creationTimestamp": None},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
                     "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}


def job_spec(spec, labels=None):
    return {"parallelism": 1, "completions": 1, "backoffLimit": 6,
            "template": template(labels or {}, spec, job=True), "completionMode": "NonIndexed",
            "suspend": False, "podReplacementPolicy": "TerminatingOrFailed"}


def job_obj(name, ns, spec, labels=None):
    return {"kind": "Job", "apiVersion": "batch/v1", "metadata": meta(name, ns, labels),
            "spec": job_spec(spec, labels), "status": {}}


def cronjob_obj(name, ns, schedule, spec, labels=None):
    js = job_spec(spec, labels)
    for k in ("parallelism", "completions", "completionMode", "suspend", "podReplacementPolicy"):
        js.pop(k, None)
    js["backoffLimit"] = 2
    return {"kind": "CronJob", "apiVersion": "batch/v1", "metadata": meta(name, ns, labels),
            "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid", "suspend": False,
                     "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": js},
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1},
            "status": {}}


def svc_port(port, target=None, name=None, protocol="TCP"):
    p = {}
    if name:
        p["name"] = name
    p["protocol"] = protocol
    p["port"] = port
    p["targetPort"] = target if target is not None else port
    return p


def service_obj(name, ns, selector, ports, type_="ClusterIP", source_ranges=None, labels=None, annotations=None,
                ext_policy=None):
    spec = {"ports": [svc_port(*p) if isinstance(p, tuple) else p for p in ports], "selector": dict(selector),
            "type": type_, "sessionAffinity": "None"}
    if source_ranges is not None:
        spec["loadBalancerSourceRanges"] = list(source_ranges)
    if type_ in ("LoadBalancer", "NodePort"):
        spec["externalTrafficPolicy"] = ext_policy or "Cluster"
    if type_ == "LoadBalancer":
        spec["allocateLoadBalancerNodePorts"] = True
    spec["internalTrafficPolicy"] = "Cluster"
    return {"kind": "Service", "apiVersion": "v1", "metadata": meta(name, ns, labels, annotations),
            "spec": spec, "status": {"loadBalancer": {}}}


def configmap_obj(name, ns, data, labels=None, annotations=None):
    return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta(name, ns, labels, annotations), "data": dict(data)}


def secret_obj(name, ns, data, type_="Opaque", labels=None):
    import base64
    return {"kind": "Secret", "apiVersion": "v1", "metadata": meta(name, ns, labels),
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}, "type": type_}


def rule(groups, resources, verbs, names=None):
    r = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        r["resourceNames"] = list(names)
    return r


def role_obj(name, rules, ns=None, labels=None, annotations=None):
    kind = "Role" if ns else "ClusterRole"
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta(name, ns, labels, annotations),
            "rules": list(rules)}


def subject(kind, name, ns=None):
    s = {"kind": kind}
    if kind in ("User", "Group"):
        s["apiGroup"] = "rbac.authorization.k8s.io"
    s["name"] = name
    if ns:
        s["namespace"] = ns
    return s


def binding_obj(name, role_kind, role, subjects, ns=None, labels=None, annotations=None):
    kind = "RoleBinding" if ns else "ClusterRoleBinding"
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta(name, ns, labels, annotations),
            "subjects": list(subjects),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}}


def webhook_obj(kind, name, hooks, labels=None, annotations=None):
    return {"kind": kind, "apiVersion": "admissionregistration.k8s.io/v1", "metadata": meta(name, None, labels, annotations),
            "webhooks": hooks}


def webhook(name, *, service=None, url=None, path="/mutate", rules_=None, failure="Ignore", mutating=True,
            ns_selector=None, obj_selector=None, ca=True, side_effects="None", timeout=10):
    cc = {}
    if url:
        cc["url"] = url
    else:
        svc_ns, svc_name, port = service
        cc["service"] = {"namespace": svc_ns, "name": svc_name, "path": path, "port": port}
    if ca:
        cc["caBundle"] = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKY201bGRHVnpNQjRYRFRJME1EVXdNVEV3TURBd01Gb1hEVE0wTURReU9URXdNREF3TUZvd0ZURVRNQkVHQTFVRQpBeE1LYTNWaVpYSnVaWFJsY3pDQ0FTSXdEUVlKS29aSWh2Y05BUUVCQlFBRGdnRVBBRENDQVFvQ2dnRUJBTVk4Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
    w = {"name": name, "clientConfig": cc,
         "rules": rules_ or [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                              "resources": ["pods"], "scope": "*"}],
         "failurePolicy": failure, "matchPolicy": "Equivalent",
         "namespaceSelector": ns_selector or {}, "objectSelector": obj_selector or {},
         "sideEffects": side_effects, "timeoutSeconds": timeout, "admissionReviewVersions": ["v1"]}
    if mutating:
        w["reinvocationPolicy"] = "Never"
    return w


# ---------------------------------------------------------------------------------------------
# managedFields


NO_DOT = {"metadata", "spec", "template", "jobTemplate"}
NOT_OWNED_META = {"name", "namespace", "creationTimestamp", "generateName", "uid", "resourceVersion", "generation",
                  "managedFields"}


def fields_v1(obj, top=True):
    """An approximation of the FieldsV1 set a field manager owns for `obj`."""
    out = {}
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if top and k in ("kind", "apiVersion", "status"):
            continue
        if v is None:
            continue
        if isinstance(v, dict):
            sub = fields_v1(v, False)
            if k == "metadata":
                sub = {f: x for f, x in sub.items() if f[2:] not in NOT_OWNED_META}
                if not sub:
                    continue
            out[f"f:{k}"] = {".": {}, **sub} if sub and k not in NO_DOT else sub
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            lst = {}
            for item in v:
                key = _list_key(item)
                if key is not None:
                    lst[key] = {".": {}, **fields_v1(item, False)}
            out[f"f:{k}"] = lst
        else:
            out[f"f:{k}"] = {}
    return out


def _list_key(item):
    for keys in (("containerPort", "protocol"), ("port", "protocol"), ("name",), ("key",), ("type",), ("ip",)):
        if all(k in item for k in keys):
            return "k:" + jdump({k: item[k] for k in keys})
    return None


def managed(manager, op, api_version, t, obj, sub=None):
    m = {"manager": manager, "operation": op, "apiVersion": api_version, "time": ts_s(t), "fieldsType": "FieldsV1",
         "fieldsV1": fields_v1(obj)}
    if sub:
        m["subresource"] = sub
    return m


# ---------------------------------------------------------------------------------------------
# Strategic merge patch (the subset kubectl and controllers produce)

MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
              "volumeMounts": "mountPath", "env": "name", "ports": "containerPort", "conditions": "type",
              "tolerations": None, "imagePullSecrets": "name"}


def smp_apply(target, patch):
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target)
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = smp_apply(out[k], v)
        elif isinstance(v, list) and MERGE_KEYS.get(k) and isinstance(out.get(k), list):
            mk = MERGE_KEYS[k]
            cur = copy.deepcopy(out[k])
            for item in v:
                idx = next((i for i, x in enumerate(cur) if x.get(mk) == item.get(mk)), None)
                if idx is None:
                    cur.append(copy.deepcopy(item))
                else:
                    cur[idx] = smp_apply(cur[idx], item)
            out[k] = cur
        else:
            out[k] = copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------------------------
# The cluster: clock, ids, stored objects, and one method per kind of request


class Cluster:
    def __init__(self, seed, start: dt.datetime, name="prod-eus-1"):
        self.rng = random.Random(seed)
        self.now = start
        self.name = name
        self.rv = 48_000_000 + self.rng.randint(0, 900_000)
        self.store = {}
        self.pod_ips = {}
        self.events = []
        self.collect = True

    # -- ids and time --
    def uuid(self):
        return str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, n=5):
        return "".join(self.rng.choice(ALNUM) for _ in range(n))

    def hexid(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def next_rv(self):
        self.rv += self.rng.randint(1, 97)
        return str(self.rv)

    def tick(self, s):
        self.now += sec(s)
        return self

    def at(self, t):
        self.now = t
        return self

    def pod_ip(self, node):
        base = NODES[node][1]
        used = set(self.pod_ips.values())
        while True:
            ip = f"{base}.{self.rng.randint(2, 250)}"
            if ip not in used:
                return ip

    # -- the audit Event --
    def emit(self, ident: Ident, verb, uri, ref=None, *, code=200, level=MD, req=None, resp=None, latency=None,
             ann=None, impersonate=None, denied=False, message=None, reason=None, details=None, start=None,
             advance=True, src=None, ua=None):
        t0 = start or self.now
        if latency is None:
            latency = self.rng.uniform(0.0011, 0.0068) if verb in ("get", "update", "patch") else self.rng.uniform(0.002, 0.03)
        t1 = t0 + sec(latency)
        ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": self.uuid(),
              "stage": "ResponseComplete", "requestURI": uri, "verb": verb, "user": ident.user()}
        if impersonate is not None:
            ev["impersonatedUser"] = impersonate
        ev["sourceIPs"] = list(src if isinstance(src, list) else [src]) if src else list(ident.src)
        if ua or ident.ua:  # omitempty: a client that sends no User-Agent has none in the log
            ev["userAgent"] = ua or ident.ua
        if ref is not None:
            ev["objectRef"] = ref
        rs = {"metadata": {}}
        if code >= 400:
            rs["status"] = "Failure"
            rs["message"] = message or "the server could not find the requested resource"
            rs["reason"] = reason or {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                                      409: "AlreadyExists", 422: "Invalid", 429: "TooManyRequests"}.get(code, "InternalError")
            if details:
                rs["details"] = details
        rs["code"] = code
        ev["responseStatus"] = rs
        if code >= 400 and resp is None:
            st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": rs["message"],
                  "reason": rs["reason"]}
            if details:
                st["details"] = details
            st["code"] = code
            resp = st
        if level in (RQ, RR) and req is not None:
            ev["requestObject"] = req
        if level == RR and resp is not None:
            ev["responseObject"] = resp
        ev["requestReceivedTimestamp"] = ts(t0)
        ev["stageTimestamp"] = ts(t1)
        a = {"authorization.k8s.io/decision": "forbid" if denied else "allow",
             "authorization.k8s.io/reason": "" if denied else ident.authz}
        if ann:
            a.update(ann)
        ev["annotations"] = a
        if advance and t1 > self.now:
            self.now = t1
        if self.collect:
            self.events.append(ev)
        return ev

    def take(self):
        ev, self.events = self.events, []
        return ev

    # -- forbidden / errors --
    def forbidden(self, ident, verb, kind: Kind, ns=None, name=None, sub=None, uri=None, level=MD, query=""):
        res_ = kind.resource + (f"/{sub}" if sub else "")
        grp = kind.group
        where = f'in the namespace "{ns}"' if ns and kind.namespaced else "at the cluster scope"
        who = ident.username
        # creates are authorized before the name is known
        nm = f' "{name}"' if name and verb != "create" else ""
        msg = f'{kind.resource}{nm} is forbidden: User "{who}" cannot {verb} resource "{res_}" in API group "{grp}" {where}'
        det = {"kind": kind.resource}
        if name and verb != "create":
            det = {"name": name, "kind": kind.resource}
        if grp:
            det["group"] = grp
        det = ordered(det, ["name", "group", "kind"])
        uri = uri or (kind.path(ns, name if verb != "create" else None, sub) + query)
        return self.emit(ident, verb, uri, objref(kind, ns, name, sub), code=403, level=level, denied=True,
                         message=msg, reason="Forbidden", details=det)

    # -- reads --
    def get(self, ident, kind: Kind, ns, name, *, sub=None, level=RQ, code=200, query="", resp=None):
        if kind.resource in ("secrets", "configmaps", "leases") or kind is CORE_EVENT or kind is NEW_EVENT:
            level = MD if level != RR else level
        uri = kind.path(ns, name, sub) + query
        if code == 404:
            return self.emit(ident, "get", uri, objref(kind, ns, name, sub), code=404, level=level,
                             message=f'{kind.resource}{"." + kind.group if kind.group else ""} "{name}" not found',
                             reason="NotFound", details={"name": name, **({"group": kind.group} if kind.group else {}), "kind": kind.resource})
        return self.emit(ident, "get", uri, objref(kind, ns, name, sub), code=code, level=level, resp=resp)

    def list(self, ident, kind: Kind, ns=None, *, query="?limit=500", level=RQ, code=200, latency=None):
        if kind.resource in ("secrets", "configmaps", "leases", "events"):
            level = MD
        return self.emit(ident, "list", kind.path(ns) + query, objref(kind, ns), code=code, level=level,
                         latency=latency or self.rng.uniform(0.004, 0.09))

    def watch(self, ident, kind: Kind, ns=None, *, selector="", duration=None, level=RQ, start=None, advance=False):
        if kind.resource in ("secrets", "configmaps", "leases", "events"):
            level = MD
        d = duration if duration is not None else self.rng.uniform(300, 599)
        if advance and start is None:
            start = self.now
        to = int(d) if duration is not None else int(d)
        q = "?allowWatchBookmarks=true"
        if selector:
            q += "&" + selector
        q += f"&resourceVersion={self.rv - self.rng.randint(0, 5000)}&timeout={to // 60}m{to % 60}s&timeoutSeconds={to}&watch=true"
        st = start if start is not None else self.now - sec(d)
        return self.emit(ident, "watch", kind.path(ns) + q, objref(kind, ns), level=level, start=st,
                         latency=d + self.rng.uniform(0.0, 0.004), advance=advance)

    def nonresource(self, ident, path, *, code=200, level=MD, verb="get", denied=False):
        if code == 403:
            return self.emit(ident, verb, path, None, code=403, level=level, denied=True,
                             message=f'forbidden: User "{ident.username}" cannot {verb} path "{path.split("?")[0]}"',
                             reason="Forbidden", details={})
        return self.emit(ident, verb, path, None, code=code, level=level)

    # -- writes --
    def materialize(self, req, manager, *, op="Update", name=None, api_t=None, sub=None):
        k = kind_of(req)
        o = copy.deepcopy(req)
        md = o["metadata"]
        if name is None and not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + self.suffix()
        elif name:
            md["name"] = name
        md["uid"] = self.uuid()
        md["resourceVersion"] = self.next_rv()
        if k.generation:
            md["generation"] = 1
        md["creationTimestamp"] = ts_s(api_t or self.now)
        md["managedFields"] = [managed(manager, op, k.api_version, api_t or self.now, req, sub)]
        if k.kind == "Pod":
            o["spec"] = admit_podspec(o["spec"], self.suffix(), md.get("namespace"))
            o["status"] = {"phase": "Pending", "qosClass": _qos(o["spec"])}
        elif k.kind == "Service":
            self._alloc_service(o)
        elif k.kind == "ServiceAccount":
            pass
        elif k.kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"):
            o.setdefault("status", {})
            if k.kind == "Job":
                uid = md["uid"]
                o["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
                o["spec"]["manualSelector"] = False
                tl = o["spec"]["template"]["metadata"].setdefault("labels", {})
                tl.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": md["name"],
                           "controller-uid": uid, "job-name": md["name"]})
                o["spec"] = ordered(o["spec"], ["parallelism", "completions", "backoffLimit", "manualSelector", "selector", "template"])
        return top_order(o)

    def _alloc_service(self, o):
        s = o["spec"]
        ip = f"10.{self.rng.randint(96, 111)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
        if s.get("clusterIP") == "None":
            ip = "None"
        s["clusterIP"] = ip
        s["clusterIPs"] = [ip]
        if s.get("type") in ("LoadBalancer", "NodePort"):
            for p in s["ports"]:
                p.setdefault("nodePort", self.rng.randint(30000, 32767))
        s["ipFamilies"] = ["IPv4"]
        s["ipFamilyPolicy"] = "SingleStack"
        o["spec"] = ordered(s, ["ports", "selector", "clusterIP", "clusterIPs", "type", "sessionAffinity",
                                "loadBalancerSourceRanges", "externalTrafficPolicy", "ipFamilies", "ipFamilyPolicy",
                                "allocateLoadBalancerNodePorts", "internalTrafficPolicy"])
        o["status"] = {"loadBalancer": {}}

    def key(self, kind: Kind, ns, name):
        return (kind.group, kind.resource, ns if kind.namespaced else None, name)

    def seed(self, obj, manager="kubectl-client-side-apply", age_days=30):
        """Put an object in the store as if it had been created before the recording."""
        t = self.now - dt.timedelta(days=age_days, seconds=self.rng.randint(0, 80000))
        o = self.materialize(top_order(copy.deepcopy(obj)), manager, api_t=t)
        k = kind_of(o)
        self.store[self.key(k, o["metadata"].get("namespace"), o["metadata"]["name"])] = o
        return o

    def stored(self, kind: Kind, ns, name):
        return self.store.get(self.key(kind, ns, name))

    def create(self, ident, obj, *, level=RR, manager=None, query=None, code=201, ann=None, dry_run=False,
               sub=None, parent=None, latency=None, pss=None, src=None, ua=None):
        """POST an object. `obj` is what the client sent (already in typed/defaulted form)."""
        k = kind_of(obj)
        obj = top_order(copy.deepcopy(obj))
        ns = obj["metadata"].get("namespace") or (parent[0] if parent else None)
        if ns and k.namespaced:
            obj["metadata"]["namespace"] = ns
        name = obj["metadata"].get("name")
        manager = manager or _default_manager(ua or ident.ua, query)
        if query is None:
            query = "?fieldManager=kubectl-create&fieldValidation=Strict" if (ua or ident.ua).startswith("kubectl/") else ""
        if dry_run:
            query += ("&" if query else "?") + "dryRun=All"
        uri = k.path(ns) + query
        a = dict(ann or {})
        if k.kind == "Pod":
            a.setdefault("pod-security.kubernetes.io/enforce-policy", pss or pss_level(ns))
        if code >= 400:
            return self.emit(ident, "create", uri, objref(k, ns, name), code=code, level=level, req=obj, ann=a,
                             latency=latency, src=src, ua=ua)
        stored = self.materialize(obj, manager)
        if not dry_run:
            self.store[self.key(k, ns, stored["metadata"]["name"])] = stored
        return self.emit(ident, "create", uri, objref(k, ns, name), code=code, level=level, req=obj, resp=stored,
                         ann=a, latency=latency or self.rng.uniform(0.006, 0.045), src=src, ua=ua)

    def refused_create(self, ident, obj, message, *, level=RR, query=None, ann=None):
        """A create that passed authorization but was refused by admission (PodSecurity...)."""
        k = kind_of(obj)
        ns = obj["metadata"].get("namespace")
        name = obj["metadata"].get("name")
        if query is None:
            query = "?fieldManager=kubectl-create&fieldValidation=Strict" if ident.ua.startswith("kubectl/") else ""
        a = {"pod-security.kubernetes.io/enforce-policy": pss_level(ns)} if k.kind == "Pod" else {}
        a.update(ann or {})
        det = {"name": name, "kind": k.resource} if name else {"kind": k.resource}
        return self.emit(ident, "create", k.path(ns) + query, objref(k, ns, name), code=403, level=level,
                         req=top_order(copy.deepcopy(obj)), ann=a, message=message, reason="Forbidden", details=det)

    def patch(self, ident, kind: Kind, ns, name, patch, *, sub=None, level=RR, manager=None, query=None,
              code=200, base=None, result=None, ann=None, latency=None, src=None, ua=None, op="Update"):
        cur = base or self.stored(kind, ns, name)
        if cur is None:
            raise KeyError(f"patch of unknown object {kind.kind} {ns}/{name}")
        if result is None:
            result = smp_apply(cur, patch) if isinstance(patch, dict) else copy.deepcopy(cur)
        result = top_order(result)
        md = result["metadata"]
        md["resourceVersion"] = self.next_rv()
        manager = manager or _default_manager(ua or ident.ua, query)
        if kind.generation and sub is None and ("spec" in (patch if isinstance(patch, dict) else {}) or not isinstance(patch, dict)):
            md["generation"] = md.get("generation", 1) + 1
        mf = [m for m in md.get("managedFields", []) if not (m["manager"] == manager and m.get("subresource") == sub)]
        mf.append(managed(manager, op, kind.api_version, self.now, patch if isinstance(patch, dict) else {}, sub))
        md["managedFields"] = mf
        self.store[self.key(kind, ns, name)] = result
        if query is None:
            u = ua or ident.ua
            query = "?fieldManager=kubectl-patch" if u.startswith("kubectl/") else ""
        return self.emit(ident, "patch", kind.path(ns, name, sub) + query, objref(kind, ns, name, sub), code=code,
                         level=level, req=patch, resp=result, ann=ann, latency=latency, src=src, ua=ua)

    def update(self, ident, obj, *, sub=None, level=RR, manager=None, query="", ann=None, bump_gen=True, src=None,
               ua=None):
        k = kind_of(obj)
        obj = top_order(copy.deepcopy(obj))
        md = obj["metadata"]
        ns, name = md.get("namespace"), md["name"]
        req = copy.deepcopy(obj)
        res_ = copy.deepcopy(obj)
        res_["metadata"]["resourceVersion"] = self.next_rv()
        if k.generation and sub is None and bump_gen:
            res_["metadata"]["generation"] = res_["metadata"].get("generation", 1) + 1
        manager = manager or _default_manager(ua or ident.ua, query)
        mf = [m for m in res_["metadata"].get("managedFields", []) if not (m["manager"] == manager and m.get("subresource") == sub)]
        mf.append(managed(manager, "Update", k.api_version, self.now, {"metadata": {}} if sub else obj, sub))
        res_["metadata"]["managedFields"] = mf
        self.store[self.key(k, ns, name)] = res_
        return self.emit(ident, "update", k.path(ns, name, sub) + query, objref(k, ns, name, sub), level=level,
                         req=req, resp=res_, ann=ann, src=src, ua=ua)

    def delete(self, ident, kind: Kind, ns, name, *, level=RR, body=None, code=200, grace=None, query="",
               src=None, ua=None):
        cur = self.store.pop(self.key(kind, ns, name), None)
        req = body
        if req is None and ident.ua.startswith("kubectl/"):
            req = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if grace is not None:
            req = dict(req or {"kind": "DeleteOptions", "apiVersion": "v1"})
            req["gracePeriodSeconds"] = grace
        if cur is not None and kind.kind == "Pod" and grace != 0:
            resp = copy.deepcopy(cur)
            resp["metadata"]["resourceVersion"] = self.next_rv()
            resp["metadata"]["deletionTimestamp"] = ts_s(self.now + sec(30))
            resp["metadata"]["deletionGracePeriodSeconds"] = 30
            resp["metadata"] = ordered(resp["metadata"], META_ORDER)
        else:
            det = {"name": name, "kind": kind.resource,
                   "uid": cur["metadata"]["uid"] if cur else stable_uuid("del", kind.resource, ns, name)}
            if kind.group:
                det = {"name": name, "group": kind.group, "kind": kind.resource, "uid": det["uid"]}
            resp = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": det}
        return self.emit(ident, "delete", kind.path(ns, name) + query, objref(kind, ns, name), code=code,
                         level=level, req=req, resp=resp, src=src, ua=ua)

    def deletecollection(self, ident, kind: Kind, ns, *, level=RQ, query="", body=None, src=None, ua=None):
        req = body
        if req is None:
            req = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        return self.emit(ident, "deletecollection", kind.path(ns) + query, objref(kind, ns), level=level, req=req,
                         latency=self.rng.uniform(0.008, 0.12), src=src, ua=ua)

    def exec_(self, ident, ns, pod, container, command, *, verb="create", level=RQ, code=101, src=None, ua=None,
              tty=True, stdin=True):
        q = "?" + "&".join(f"command={c}" for c in _url_quote_list(command))
        q += f"&container={container}"
        if stdin:
            q += "&stdin=true"
        q += "&stdout=true"
        if not tty:
            q += "&stderr=true"
        if tty:
            q += "&tty=true"
        dur = self.rng.uniform(4, 90)
        st = self.now
        return self.emit(ident, verb, KINDS["Pod"].path(ns, pod, "exec") + q,
                         objref(KINDS["Pod"], ns, pod, "exec"), code=code, level=level, start=st, latency=dur,
                         src=src, ua=ua)

    # -- controller-side helpers --
    def k8s_event(self, ident, ns, involved, reason, message, type_="Normal", *, new_api=False, source=None,
                  level=MD, reporting=None):
        """A core/v1 or events.k8s.io/v1 Event created by a component."""
        iname = involved["metadata"]["name"]
        ename = f"{iname}.{self.hexid(16)}"
        if new_api:
            req = {"kind": "Event", "apiVersion": "events.k8s.io/v1",
                   "metadata": {"name": ename, "namespace": ns, "creationTimestamp": None},
                   "eventTime": ts(self.now),
                   "reportingController": reporting or "default-scheduler", "reportingInstance": f"{reporting or 'default-scheduler'}-k8s-cp-01",
                   "action": "Binding", "reason": reason,
                   "regarding": {"kind": involved["kind"], "namespace": ns, "name": iname,
                                 "uid": involved["metadata"].get("uid", ""), "apiVersion": involved.get("apiVersion", "v1"),
                                 "resourceVersion": involved["metadata"].get("resourceVersion", "")},
                   "note": message, "type": type_, "deprecatedSource": {}, "deprecatedFirstTimestamp": None,
                   "deprecatedLastTimestamp": None}
            k = NEW_EVENT
        else:
            req = {"kind": "Event", "apiVersion": "v1",
                   "metadata": {"name": ename, "namespace": ns, "creationTimestamp": None},
                   "involvedObject": {"kind": involved["kind"], "namespace": ns, "name": iname,
                                      "uid": involved["metadata"].get("uid", ""),
                                      "apiVersion": involved.get("apiVersion", "v1"),
                                      "resourceVersion": involved["metadata"].get("resourceVersion", "")},
                   "reason": reason, "message": message, "source": source or {},
                   "firstTimestamp": ts_s(self.now), "lastTimestamp": ts_s(self.now), "count": 1, "type": type_,
                   "eventTime": None, "reportingComponent": (source or {}).get("component", ""),
                   "reportingInstance": (source or {}).get("host", "")}
            k = CORE_EVENT
        return self.emit(ident, "create", k.path(ns), objref(k, ns, ename), code=201, level=level, req=req,
                         latency=self.rng.uniform(0.002, 0.012))

    def lease_renew(self, ident, ns, name, holder, *, level=MD, query="?timeout=10s"):
        k = KINDS["Lease"]
        body = {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
                "metadata": {"name": name, "namespace": ns, "uid": stable_uuid("lease", ns, name),
                             "resourceVersion": str(self.rv), "creationTimestamp": "2025-01-06T09:12:44Z"},
                "spec": {"holderIdentity": holder, "leaseDurationSeconds": 40,
                         "renewTime": ts(self.now)}}
        resp = copy.deepcopy(body)
        resp["metadata"]["resourceVersion"] = self.next_rv()
        return self.emit(ident, "update", k.path(ns, name) + query, objref(k, ns, name), level=level, req=body,
                         resp=resp, latency=self.rng.uniform(0.0015, 0.006))


def _url_quote_list(cmd):
    from urllib.parse import quote
    return [quote(c, safe="") for c in cmd]


def _default_manager(ua, query):
    if query and "fieldManager=" in query:
        return query.split("fieldManager=")[1].split("&")[0]
    # the API server derives the default manager from the User-Agent up to the first "/"
    return ua.split("/")[0]


def _qos(spec):
    rs = [c.get("resources", {}) for c in spec.get("containers", [])]
    if all(not r for r in rs):
        return "BestEffort"
    if all(r.get("limits") and r.get("requests") and r["limits"] == r["requests"] for r in rs):
        return "Guaranteed"
    return "Burstable"


PSS = {"kube-system": "privileged:latest", "shop": "baseline:latest", "payments": "restricted:latest",
       "ci": "baseline:latest", "analytics": "baseline:latest", "monitoring": "privileged:latest"}


def pss_level(ns):
    return PSS.get(ns, "privileged:latest")


def pss_violation(ns, pod_name, violations):
    lvl = pss_level(ns)
    return f'pods "{pod_name}" is forbidden: violates PodSecurity "{lvl}": ' + ", ".join(violations)


# ---------------------------------------------------------------------------------------------
# Controller-side behaviour: what follows a user's write


DS_CTRL = controller("daemon-set-controller")
RS_CTRL = controller("replicaset-controller")
DEPLOY_CTRL = controller("deployment-controller")
JOB_CTRL = controller("job-controller")
CRONJOB_CTRL = controller("cronjob-controller")
SS_CTRL = controller("statefulset-controller")
EPS_CTRL = controller("endpointslice-controller")
EP_CTRL = controller("endpoint-controller")
NS_CTRL = controller("namespace-controller")
GC_CTRL = controller("generic-garbage-collector")
SVC_CTRL = Ident("system:serviceaccount:kube-system:service-controller", sa_groups("kube-system"),
                 uid=stable_uuid("sa", "kube-system", "service-controller"),
                 extra={"authentication.kubernetes.io/credential-id": [f"JTI={stable_uuid('jti-ccm')}"]},
                 src=APISERVER_IP, ua="cloud-controller-manager/v1.30.4 (linux/amd64) kubernetes/a51b3b7/system:serviceaccount:kube-system:service-controller",
                 authz=rbac_reason("ClusterRoleBinding", "system:controller:service-controller", "ClusterRole",
                                   "system:controller:service-controller", "ServiceAccount", "service-controller/kube-system"))


def pod_template_hash(c: Cluster, tmpl):
    h = hashlib.sha1(jdump(tmpl).encode()).hexdigest()
    r = random.Random(h)
    return "".join(r.choice(ALNUM) for _ in range(10))


def rs_from_deployment(c: Cluster, dep):
    tmpl = copy.deepcopy(dep["spec"]["template"])
    h = pod_template_hash(c, tmpl)
    tmpl["metadata"].setdefault("labels", {})["pod-template-hash"] = h
    labels = dict(dep["spec"]["template"]["metadata"].get("labels", {}))
    labels["pod-template-hash"] = h
    sel = dict(dep["spec"]["selector"]["matchLabels"])
    sel["pod-template-hash"] = h
    md = meta(f'{dep["metadata"]["name"]}-{h}', dep["metadata"]["namespace"], labels,
              {"deployment.kubernetes.io/desired-replicas": str(dep["spec"].get("replicas", 1)),
               "deployment.kubernetes.io/max-replicas": str(dep["spec"].get("replicas", 1) + 1),
               "deployment.kubernetes.io/revision": "1"}, owner=owner_ref(dep))
    return {"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": md,
            "spec": {"replicas": dep["spec"].get("replicas", 1), "selector": {"matchLabels": sel}, "template": tmpl},
            "status": {"replicas": 0}}


def pod_from_owner(owner, tmpl, extra_labels=None, node_affinity=None, ds=False, name=None):
    labels = dict(tmpl["metadata"].get("labels", {}))
    labels.update(extra_labels or {})
    ann = tmpl["metadata"].get("annotations")
    spec = copy.deepcopy(tmpl["spec"])
    if node_affinity:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_affinity]}]}]}}}
    if ds:
        tol = spec.setdefault("tolerations", [])
        adds = [("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
                ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")]
        if spec.get("hostNetwork"):
            adds.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
        for k, e in adds:
            tol.append({"key": k, "operator": "Exists", "effect": e})
    spec = ordered(spec, PODSPEC_ORDER)
    md = meta(name, owner["metadata"]["namespace"], labels, ann,
              generate_name=None if name else f'{owner["metadata"]["name"]}-', owner=owner_ref(owner))
    return {"kind": "Pod", "apiVersion": "v1", "metadata": md, "spec": spec, "status": {}}


def bind(c: Cluster, pod, node):
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    req = {"kind": "Binding", "apiVersion": "v1",
           "metadata": {"name": name, "namespace": ns, "uid": pod["metadata"]["uid"], "creationTimestamp": None},
           "target": {"kind": "Node", "name": node}}
    resp = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    ev = c.emit(SCHED_IDENT, "create", KINDS["Pod"].path(ns, name, "binding"), objref(KINDS["Pod"], ns, name, "binding"),
                code=201, level=RR, req=req, resp=resp, latency=c.rng.uniform(0.003, 0.011))
    st = c.stored(KINDS["Pod"], ns, name)
    if st is not None:
        st["spec"]["nodeName"] = node
        st["spec"] = ordered(st["spec"], PODSPEC_ORDER)
    return ev


def pod_running(c: Cluster, pod, node, ip=None, level=RQ):
    """The kubelet reports the pod running: a strategic merge patch on pods/status."""
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    hostnet = pod["spec"].get("hostNetwork")
    ip = NODES[node][0] if hostnet else (ip or c.pod_ip(node))
    c.pod_ips[(ns, name)] = ip
    now = ts_s(c.now)
    cstat = []
    for ct in pod["spec"]["containers"]:
        img = ct["image"]
        full = img if "/" in img.split(":")[0] and "." in img.split("/")[0] else "docker.io/" + ("library/" + img if "/" not in img else img)
        cstat.append({"containerID": f"containerd://{c.hexid(64)}", "image": full if ":" in full.rsplit("/", 1)[-1] else full + ":latest",
                      "imageID": f"{full.split(':')[0] if ':' in full.rsplit('/', 1)[-1] else full}@sha256:{c.hexid(64)}",
                      "lastState": {}, "name": ct["name"], "ready": True, "restartCount": 0, "started": True,
                      "state": {"running": {"startedAt": now}}})
    conds = [{"lastProbeTime": None, "lastTransitionTime": now, "status": "True", "type": t}
             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    patch = {"metadata": {"uid": pod["metadata"]["uid"]},
             "status": {"$setElementOrder/conditions": [{"type": t["type"]} for t in conds], "conditions": conds,
                        "containerStatuses": cstat, "hostIP": NODES[node][0], "hostIPs": [{"ip": NODES[node][0]}],
                        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now}}
    base = c.stored(KINDS["Pod"], ns, name) or pod
    result = copy.deepcopy(base)
    result["spec"]["nodeName"] = node
    result["status"] = {"phase": "Running", "conditions": conds, "hostIP": NODES[node][0],
                        "hostIPs": [{"ip": NODES[node][0]}], "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
                        "containerStatuses": cstat, "qosClass": base.get("status", {}).get("qosClass", "BestEffort")}
    return c.patch(kubelet(node), KINDS["Pod"], ns, name, patch, sub="status", level=level, base=base, result=result,
                   query="", manager="kubelet")


def controller_pods(c: Cluster, owner, creator: Ident, nodes, *, running=True, events=True, ds=False, names=None,
                    level=RR):
    """Controller creates pods for `owner`, the scheduler binds them, kubelets start them."""
    tmpl = owner["spec"]["template"]
    out = []
    for i, node in enumerate(nodes):
        extra = {}
        if ds:
            extra = {"controller-revision-hash": pod_template_hash(c, tmpl)[:10], "pod-template-generation": "1"}
        req = pod_from_owner(owner, tmpl, extra, node_affinity=node if ds else None, ds=ds,
                             name=names[i] if names else None)
        ev = c.create(creator, req, query="", level=level, manager=KCM)
        pod = c.stored(KINDS["Pod"], req["metadata"]["namespace"], ev["responseObject"]["metadata"]["name"]) \
            if "responseObject" in ev else None
        if pod is None:
            pod = c.materialize(req, KCM)
        if events:
            c.tick(0.004)
            c.k8s_event(creator, owner["metadata"]["namespace"], owner, "SuccessfulCreate",
                        f'Created pod: {pod["metadata"]["name"]}',
                        source={"component": creator.username.split(":")[-1].replace("-controller", "-controller")})
        c.tick(c.rng.uniform(0.01, 0.05))
        bind(c, pod, node)
        if events:
            c.k8s_event(SCHED_IDENT, pod["metadata"]["namespace"], pod, "Scheduled",
                        f'Successfully assigned {pod["metadata"]["namespace"]}/{pod["metadata"]["name"]} to {node}',
                        new_api=True, reporting="default-scheduler")
        out.append((pod, node))
    if running:
        c.tick(c.rng.uniform(1.5, 4.0))
        for pod, node in out:
            if events:
                for r, m in (("Pulled", f'Container image "{pod["spec"]["containers"][0]["image"]}" already present on machine'),
                             ("Created", f'Created container {pod["spec"]["containers"][0]["name"]}'),
                             ("Started", f'Started container {pod["spec"]["containers"][0]["name"]}')):
                    c.k8s_event(kubelet(node), pod["metadata"]["namespace"], pod, r, m,
                                source={"component": "kubelet", "host": node})
                    c.tick(c.rng.uniform(0.05, 0.4))
            pod_running(c, pod, node)
            c.tick(c.rng.uniform(0.2, 1.5))
    return [p for p, _ in out]


def rollout(c: Cluster, ident: Ident, dep, nodes, *, level=RR, events=True, manager=None, query=None):
    """A Deployment created by `ident`, then its ReplicaSet and pods by the controllers."""
    c.create(ident, dep, level=level, manager=manager, query=query)
    stored = c.stored(KINDS["Deployment"], dep["metadata"]["namespace"], dep["metadata"]["name"])
    c.tick(c.rng.uniform(0.005, 0.03))
    rs = rs_from_deployment(c, stored)
    c.create(DEPLOY_CTRL, rs, query="", manager=KCM)
    rs_s = c.stored(KINDS["ReplicaSet"], rs["metadata"]["namespace"], rs["metadata"]["name"])
    if events:
        c.k8s_event(DEPLOY_CTRL, dep["metadata"]["namespace"], stored, "ScalingReplicaSet",
                    f'Scaled up replica set {rs["metadata"]["name"]} to {len(nodes)}',
                    source={"component": "deployment-controller"})
    c.tick(c.rng.uniform(0.005, 0.03))
    return controller_pods(c, rs_s, RS_CTRL, nodes, events=events)


# ---------------------------------------------------------------------------------------------
# System components as their installers write them


def node_sel_linux():
    return {"kubernetes.io/os": "linux"}


def kube_proxy_ds():
    spec = podspec([ctr("kube-proxy", "registry.k8s.io/kube-proxy:v1.30.4",
                        command=["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                 "--hostname-override=$(NODE_NAME)"],
                        env={"NODE_NAME": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                        mounts=[("kube-proxy", "/var/lib/kube-proxy"), ("xtables-lock", "/run/xtables.lock"),
                                {"name": "lib-modules", "readOnly": True, "mountPath": "/lib/modules"}],
                        sc={"privileged": True})],
                   volumes=[cm_vol("kube-proxy", "kube-proxy"), hostpath("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                            hostpath("lib-modules", "/lib/modules", "")],
                   sa="kube-proxy", host_network=True, node_selector=node_sel_linux(),
                   tolerations=[{"operator": "Exists"}], priority_class="system-node-critical")
    return daemonset_obj("kube-proxy", "kube-system", spec, {"k8s-app": "kube-proxy"})


CALICO_V = "v3.27.3"


def calico_node_ds():
    env = [("DATASTORE_TYPE", "kubernetes"), ("WAIT_FOR_DATASTORE", "true"),
           ("NODENAME", {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}),
           ("CALICO_NETWORKING_BACKEND", {"configMapKeyRef": {"name": "calico-config", "key": "calico_backend"}}),
           ("CLUSTER_TYPE", "k8s,bgp"), ("IP", "autodetect"), ("CALICO_IPV4POOL_IPIP", "Always"),
           ("CALICO_IPV4POOL_CIDR", "10.244.0.0/16"), ("CALICO_DISABLE_FILE_LOGGING", "true"),
           ("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT"), ("FELIX_IPV6SUPPORT", "false"),
           ("FELIX_HEALTHENABLED", "true")]
    cni_env = [("CNI_CONF_NAME", "10-calico.conflist"),
               ("CNI_NETWORK_CONFIG", {"configMapKeyRef": {"name": "calico-config", "key": "cni_network_config"}}),
               ("KUBERNETES_NODE_NAME", {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}),
               ("SLEEP", "false")]
    init = [
        ctr("upgrade-ipam", f"docker.io/calico/cni:{CALICO_V}", command=["/opt/cni/bin/calico-ipam", "-upgrade"],
            env=[("KUBERNETES_NODE_NAME", {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}})],
            mounts=[("host-local-net-dir", "/var/lib/cni/networks"), ("cni-bin-dir", "/host/opt/cni/bin")],
            sc={"privileged": True}),
        ctr("install-cni", f"docker.io/calico/cni:{CALICO_V}", command=["/opt/cni/bin/install"], env=cni_env,
            mounts=[("cni-bin-dir", "/host/opt/cni/bin"), ("cni-net-dir", "/host/etc/cni/net.d")],
            sc={"privileged": True}),
        ctr("mount-bpffs", f"docker.io/calico/node:{CALICO_V}", command=["calico-node", "-init", "-best-effort"],
            mounts=[("sys-fs", "/sys/fs"), ("var-run-calico", "/var/run/calico"), ("nodeproc", "/nodeproc")],
            sc={"privileged": True}),
    ]
    main = ctr("calico-node", f"docker.io/calico/node:{CALICO_V}", env=env,
               resources={"requests": {"cpu": "250m"}},
               mounts=[("cni-net-dir", "/host/etc/cni/net.d"),
                       {"name": "lib-modules", "readOnly": True, "mountPath": "/lib/modules"},
                       ("xtables-lock", "/run/xtables.lock"), ("var-run-calico", "/var/run/calico"),
                       ("var-lib-calico", "/var/lib/calico"), ("policysync", "/var/run/nodeagent"),
                       ("bpffs", "/sys/fs/bpf"), ("cni-log-dir", "/var/log/calico/cni")],
               sc={"privileged": True},
               probes={"livenessProbe": {"exec": {"command": ["/bin/calico-node", "-felix-live", "-bird-live"]},
                                         "initialDelaySeconds": 10, "timeoutSeconds": 10, "periodSeconds": 10,
                                         "failureThreshold": 6},
                       "readinessProbe": {"exec": {"command": ["/bin/calico-node", "-felix-ready", "-bird-ready"]},
                                          "timeoutSeconds": 10, "periodSeconds": 10}})
    vols = [hostpath("lib-modules", "/lib/modules"), hostpath("var-run-calico", "/var/run/calico", "DirectoryOrCreate"),
            hostpath("var-lib-calico", "/var/lib/calico", "DirectoryOrCreate"),
            hostpath("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
            hostpath("sys-fs", "/sys/fs/", "DirectoryOrCreate"), hostpath("bpffs", "/sys/fs/bpf", "Directory"),
            hostpath("nodeproc", "/proc"), hostpath("cni-bin-dir", "/opt/cni/bin", "DirectoryOrCreate"),
            hostpath("cni-net-dir", "/etc/cni/net.d"), hostpath("cni-log-dir", "/var/log/calico/cni"),
            hostpath("host-local-net-dir", "/var/lib/cni/networks"),
            hostpath("policysync", "/var/run/nodeagent", "DirectoryOrCreate")]
    spec = podspec([main], init=init, volumes=vols, sa="calico-node", host_network=True,
                   node_selector=node_sel_linux(), priority_class="system-node-critical", grace=0,
                   tolerations=[{"operator": "Exists", "effect": "NoSchedule"},
                                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                                {"operator": "Exists", "effect": "NoExecute"}])
    return daemonset_obj("calico-node", "kube-system", spec, {"k8s-app": "calico-node"})


def cilium_ds():
    caps = ["CHOWN", "KILL", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_MODULE", "SYS_ADMIN", "SYS_RESOURCE",
            "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
    img = "quay.io/cilium/cilium:v1.15.6@sha256:6aa840986a3a9722cd967ef63248d675a87add7e1704740902d5d3162f0c0def"
    init = [
        ctr("config", img, command=["cilium-dbg", "build-config"],
            env=[("K8S_NODE_NAME", {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}})]),
        ctr("mount-cgroup", img, command=["sh", "-ec", "cp /usr/bin/cilium-mount /hostbin/cilium-mount; nsenter --cgroup=/hostproc/1/ns/cgroup --mount=/hostproc/1/ns/mnt \"${BIN_PATH}/cilium-mount\" $CGROUP_ROOT; rm /hostbin/cilium-mount"],
            env={"CGROUP_ROOT": "/run/cilium/cgroupv2", "BIN_PATH": "/opt/cni/bin"},
            mounts=[("hostproc", "/hostproc"), ("cni-path", "/hostbin")],
            sc={"capabilities": {"add": ["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"], "drop": ["ALL"]},
                "seLinuxOptions": {"level": "s0", "type": "spc_t"}}),
        ctr("mount-bpf-fs", img, command=["/bin/bash", "-c", "--"],
            args=["mount | grep \"/sys/fs/bpf type bpf\" || mount -t bpf bpf /sys/fs/bpf"],
            mounts=[{"name": "bpf-maps", "mountPath": "/sys/fs/bpf", "mountPropagation": "Bidirectional"}],
            sc={"privileged": True}),
        ctr("install-cni-binaries", img, command=["/install-plugin.sh"], mounts=[("cni-path", "/host/opt/cni/bin")],
            sc={"capabilities": {"drop": ["ALL"]}, "seLinuxOptions": {"level": "s0", "type": "spc_t"}}),
    ]
    main = ctr("cilium-agent", img, command=["cilium-agent"], args=["--config-dir=/tmp/cilium/config-map"],
               env=[("K8S_NODE_NAME", {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}),
                    ("CILIUM_K8S_NAMESPACE", {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}),
                    ("KUBERNETES_SERVICE_HOST", "10.240.0.10"), ("KUBERNETES_SERVICE_PORT", "6443")],
               mounts=[("host-proc-sys-net", "/host/proc/sys/net"), ("host-proc-sys-kernel", "/host/proc/sys/kernel"),
                       {"name": "bpf-maps", "mountPath": "/sys/fs/bpf", "mountPropagation": "HostToContainer"},
                       ("cilium-run", "/var/run/cilium"), ("etc-cni-netd", "/host/etc/cni/net.d"),
                       {"name": "lib-modules", "readOnly": True, "mountPath": "/lib/modules"},
                       ("xtables-lock", "/run/xtables.lock"), ("tmp", "/tmp")],
               sc={"capabilities": {"add": caps, "drop": ["ALL"]}, "seLinuxOptions": {"level": "s0", "type": "spc_t"}})
    vols = [empty_vol("tmp"), hostpath("cilium-run", "/var/run/cilium", "DirectoryOrCreate"),
            hostpath("bpf-maps", "/sys/fs/bpf", "DirectoryOrCreate"), hostpath("hostproc", "/proc", "Directory"),
            hostpath("cilium-cgroup", "/run/cilium/cgroupv2", "DirectoryOrCreate"),
            hostpath("cni-path", "/opt/cni/bin", "DirectoryOrCreate"),
            hostpath("etc-cni-netd", "/etc/cni/net.d", "DirectoryOrCreate"), hostpath("lib-modules", "/lib/modules"),
            hostpath("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
            hostpath("host-proc-sys-net", "/proc/sys/net", "Directory"),
            hostpath("host-proc-sys-kernel", "/proc/sys/kernel", "Directory")]
    spec = podspec([main], init=init, volumes=vols, sa="cilium", host_network=True, node_selector=node_sel_linux(),
                   priority_class="system-node-critical", tolerations=[{"operator": "Exists"}], grace=1)
    return daemonset_obj("cilium", "kube-system", spec, {"k8s-app": "cilium", "app.kubernetes.io/name": "cilium-agent",
                                                          "app.kubernetes.io/part-of": "cilium"})


def aws_node_ds():
    img = "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.2-eksbuild.1"
    init = [ctr("aws-vpc-cni-init", "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni-init:v1.18.2-eksbuild.1",
                env={"DISABLE_TCP_EARLY_DEMUX": "false", "ENABLE_IPv6": "false"},
                mounts=[("cni-bin-dir", "/host/opt/cni/bin")], sc={"privileged": True},
                resources={"requests": {"cpu": "25m"}})]
    main = ctr("aws-node", img, ports=[{"name": "metrics", "containerPort": 61678}],
               env={"ADDITIONAL_ENI_TAGS": "{}", "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG", "AWS_VPC_K8S_CNI_LOG_FILE": "/host/var/log/aws-routed-eni/ipamd.log",
                    "CLUSTER_NAME": "prod-usw2", "VPC_ID": "vpc-0a1b2c3d4e5f60718",
                    "MY_NODE_NAME": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
               mounts=[("cni-bin-dir", "/host/opt/cni/bin"), ("cni-net-dir", "/host/etc/cni/net.d"),
                       ("log-dir", "/host/var/log/aws-routed-eni"), ("run-dir", "/var/run/aws-node"),
                       ("xtables-lock", "/run/xtables.lock")],
               sc={"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}, resources={"requests": {"cpu": "25m"}})
    agent = ctr("aws-eks-nodeagent", "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon/aws-network-policy-agent:v1.1.2-eksbuild.1",
                args=["--enable-ipv6=false", "--enable-network-policy=false", "--enable-cloudwatch-logs=false",
                      "--metrics-bind-addr=:8162", "--health-probe-bind-addr=:8163"],
                mounts=[{"name": "bpf-pin-path", "mountPath": "/sys/fs/bpf"}, ("log-dir", "/var/log/aws-routed-eni"),
                        ("run-dir", "/var/run/aws-node")],
                sc={"capabilities": {"add": ["NET_ADMIN"]}, "privileged": True})
    vols = [hostpath("bpf-pin-path", "/sys/fs/bpf"), hostpath("cni-bin-dir", "/opt/cni/bin"),
            hostpath("cni-net-dir", "/etc/cni/net.d"), hostpath("log-dir", "/var/log/aws-routed-eni", "DirectoryOrCreate"),
            hostpath("run-dir", "/var/run/aws-node", "DirectoryOrCreate"),
            hostpath("xtables-lock", "/run/xtables.lock", "FileOrCreate")]
    spec = podspec([main, agent], init=init, volumes=vols, sa="aws-node", host_network=True,
                   priority_class="system-node-critical", tolerations=[{"operator": "Exists"}], grace=10,
                   sc={})
    return daemonset_obj("aws-node", "kube-system", spec, {"k8s-app": "aws-node", "app.kubernetes.io/name": "aws-node",
                                                            "app.kubernetes.io/instance": "aws-vpc-cni"})


def azure_npm_ds():
    spec = podspec([ctr("azure-npm", "mcr.microsoft.com/containernetworking/azure-npm:v1.5.34",
                        env={"HOSTNAME": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}},
                             "NPM_CONFIG": "/etc/azure-npm/azure-npm.json"},
                        mounts=[("log", "/var/log"), ("xtables-lock", "/run/xtables.lock"),
                                ("protocols", "/etc/protocols"), ("azure-npm-config", "/etc/azure-npm")],
                        sc={"privileged": True}, resources={"limits": {"cpu": "250m", "memory": "300Mi"},
                                                            "requests": {"cpu": "250m"}})],
                   volumes=[hostpath("log", "/var/log", "Directory"),
                            hostpath("xtables-lock", "/run/xtables.lock", "File"),
                            hostpath("protocols", "/etc/protocols", "File"), cm_vol("azure-npm-config", "azure-npm-config")],
                   sa="azure-npm", host_network=True, node_selector=node_sel_linux(),
                   priority_class="system-node-critical",
                   tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                {"operator": "Exists", "effect": "NoExecute"},
                                {"operator": "Exists", "effect": "NoSchedule"}])
    return daemonset_obj("azure-npm", "kube-system", spec, {"k8s-app": "azure-npm", "addonmanager.kubernetes.io/mode": "Reconcile"})


def ebs_csi_node_ds():
    img = "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.31.0"
    main = ctr("ebs-plugin", img, args=["node", "--endpoint=$(CSI_ENDPOINT)", "--logging-format=text", "--v=2"],
               env={"CSI_ENDPOINT": "unix:/csi/csi.sock", "CSI_NODE_NAME": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
               ports=[{"name": "healthz", "containerPort": 9808}],
               mounts=[{"name": "kubelet-dir", "mountPath": "/var/lib/kubelet", "mountPropagation": "Bidirectional"},
                       ("plugin-dir", "/csi"), ("device-dir", "/dev")],
               sc={"privileged": True, "readOnlyRootFilesystem": True}, resources={"limits": {"memory": "256Mi"}, "requests": {"cpu": "10m", "memory": "40Mi"}})
    reg = ctr("node-driver-registrar", "public.ecr.aws/eks-distro/kubernetes-csi/node-driver-registrar:v2.10.1-eks-1-30-8",
              args=["--csi-address=$(ADDRESS)", "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)", "--v=2"],
              env={"ADDRESS": "/csi/csi.sock", "DRIVER_REG_SOCK_PATH": "/var/lib/kubelet/plugins/ebs.csi.aws.com/csi.sock"},
              mounts=[("plugin-dir", "/csi"), ("registration-dir", "/registration"), ("probe-dir", "/var/lib/kubelet/plugins/ebs.csi.aws.com/")],
              sc={"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True})
    probe = ctr("liveness-probe", "public.ecr.aws/eks-distro/kubernetes-csi/livenessprobe:v2.12.0-eks-1-30-8",
                args=["--csi-address=/csi/csi.sock"], mounts=[("plugin-dir", "/csi")],
                sc={"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True})
    vols = [hostpath("kubelet-dir", "/var/lib/kubelet", "Directory"),
            hostpath("plugin-dir", "/var/lib/kubelet/plugins/ebs.csi.aws.com/", "DirectoryOrCreate"),
            hostpath("registration-dir", "/var/lib/kubelet/plugins_registry/", "Directory"),
            hostpath("device-dir", "/dev", "Directory"),
            hostpath("probe-dir", "/var/lib/kubelet/plugins/ebs.csi.aws.com/", "DirectoryOrCreate")]
    spec = podspec([main, reg, probe], volumes=vols, sa="ebs-csi-node-sa", node_selector=node_sel_linux(),
                   priority_class="system-node-critical", tolerations=[{"operator": "Exists"}],
                   sc={"fsGroup": 0, "runAsGroup": 0, "runAsNonRoot": False, "runAsUser": 0})
    return daemonset_obj("ebs-csi-node", "kube-system", spec, {"app": "ebs-csi-node", "app.kubernetes.io/name": "aws-ebs-csi-driver",
                                                                "app.kubernetes.io/component": "csi-driver"})


def fluent_bit_ds(ns="kube-system"):
    spec = podspec([ctr("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.0.7", args=["--workdir=/fluent-bit/etc", "--config=/fluent-bit/etc/conf/fluent-bit.conf"],
                        ports=[{"name": "http", "containerPort": 2020}],
                        mounts=[("config", "/fluent-bit/etc/conf"), ("varlog", "/var/log"),
                                {"name": "varlibdockercontainers", "readOnly": True, "mountPath": "/var/lib/docker/containers"}],
                        probes={"livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
                                "readinessProbe": {"httpGet": {"path": "/api/v1/health", "port": "http"}}})],
                   volumes=[cm_vol("config", "fluent-bit"), hostpath("varlog", "/var/log"),
                            hostpath("varlibdockercontainers", "/var/lib/docker/containers")],
                   sa="fluent-bit")
    return daemonset_obj("fluent-bit", ns, spec, {"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "fluent-bit"},
                         annotations={"meta.helm.sh/release-name": "fluent-bit", "meta.helm.sh/release-namespace": ns})


def coredns_deploy():
    spec = podspec([ctr("coredns", "registry.k8s.io/coredns/coredns:v1.11.1", args=["-conf", "/etc/coredns/Corefile"],
                        ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53},
                               {"name": "metrics", "containerPort": 9153}],
                        mounts=[{"name": "config-volume", "readOnly": True, "mountPath": "/etc/coredns"}],
                        resources={"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
                        probes={"livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 60,
                                                  "timeoutSeconds": 5, "failureThreshold": 5},
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}}},
                        sc={"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False})],
                   volumes=[{"name": "config-volume", "configMap": {"name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]}}],
                   sa="coredns", node_selector=node_sel_linux(), priority_class="system-cluster-critical",
                   dns_policy="Default",
                   tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    return deploy_obj("coredns", "kube-system", spec, {"k8s-app": "kube-dns"}, replicas=2,
                      strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}})


def metrics_server_deploy():
    spec = podspec([ctr("metrics-server", "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
                        args=["--cert-dir=/tmp", "--secure-port=10250", "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
                              "--kubelet-use-node-status-port", "--metric-resolution=15s"],
                        ports=[{"name": "https", "containerPort": 10250}],
                        mounts=[("tmp-dir", "/tmp")], resources={"requests": {"cpu": "100m", "memory": "200Mi"}},
                        sc={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"}})],
                   volumes=[empty_vol("tmp-dir")], sa="metrics-server", node_selector=node_sel_linux(),
                   priority_class="system-cluster-critical")
    return deploy_obj("metrics-server", "kube-system", spec, {"k8s-app": "metrics-server"},
                      strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}})


def konnectivity_deploy():
    spec = podspec([ctr("konnectivity-agent", "mcr.microsoft.com/oss/kubernetes/apiserver-network-proxy/agent:v0.30.3-hotfix.20240819",
                        command=["/proxy-agent"],
                        args=["--logtostderr=true", "--ca-cert=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                              "--proxy-server-host=prod-eus-1-dns-k2x9b7.hcp.eastus.azmk8s.io", "--proxy-server-port=443",
                              "--service-account-token-path=/var/run/secrets/tokens/konnectivity-agent-token",
                              "--agent-identifiers=ipv4=$(HOST_IP)", "--sync-forever=true"],
                        env={"HOST_IP": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.hostIP"}}},
                        mounts=[("konnectivity-agent-token", "/var/run/secrets/tokens")],
                        resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "20m", "memory": "50Mi"}})],
                   volumes=[{"name": "konnectivity-agent-token", "projected": {"sources": [{"serviceAccountToken": {
                       "audience": "system:konnectivity-server", "expirationSeconds": 3600, "path": "konnectivity-agent-token"}}]}}],
                   sa="konnectivity-agent", node_selector=node_sel_linux(), priority_class="system-cluster-critical",
                   tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"}])
    return deploy_obj("konnectivity-agent", "kube-system", spec, {"app": "konnectivity-agent"}, replicas=2)


def app_deploy(name, ns, image, *, port=8080, replicas=2, env=None, labels=None, sa=None, cm=None, secret=None,
               sc=None, extra_labels=None, annotations=None, resources=None):
    labels = labels or {"app": name}
    if extra_labels:
        labels = {**labels, **extra_labels}
    mounts, vols = [], []
    if cm:
        mounts.append({"name": "config", "readOnly": True, "mountPath": "/etc/" + name})
        vols.append(cm_vol("config", cm))
    if secret:
        mounts.append({"name": "creds", "readOnly": True, "mountPath": "/var/run/secrets/" + name})
        vols.append(secret_vol("creds", secret))
    sc = sc if sc is not None else {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                    "capabilities": {"drop": ["ALL"]}}
    spec = podspec([ctr(name, image, ports=[{"name": "http", "containerPort": port}] if port else None, env=env,
                        mounts=mounts or None, sc=sc, resources=resources or res(),
                        probes={"readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}} if port else None)],
                   volumes=vols or None, sa=sa)
    return deploy_obj(name, ns, spec, labels, replicas=replicas, annotations=annotations)


def kubectl_apply_ann(obj):
    """kubectl client-side apply stores the object as sent in an annotation."""
    o = copy.deepcopy(obj)
    md = o["metadata"]
    last = {"apiVersion": o["apiVersion"], "kind": o["kind"],
            "metadata": {k: v for k, v in md.items() if k in ("annotations", "labels", "name", "namespace")},
            **{k: v for k, v in o.items() if k not in ("apiVersion", "kind", "metadata", "status")}}
    md.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = jdump(_strip_defaults(last)) + "\n"
    return o


def _strip_defaults(o):
    if isinstance(o, dict):
        return {k: _strip_defaults(v) for k, v in sorted(o.items())
                if v not in (None, {}) and k not in ("terminationMessagePath", "terminationMessagePolicy", "creationTimestamp",
                                                     "schedulerName", "dnsPolicy", "restartPolicy", "revisionHistoryLimit",
                                                     "progressDeadlineSeconds", "terminationGracePeriodSeconds",
                                                     "sessionAffinity", "internalTrafficPolicy", "imagePullPolicy")}
    if isinstance(o, list):
        return [_strip_defaults(x) for x in o]
    return o


def apply_create(c, ident, obj, **kw):
    """`kubectl apply` of a new object: GET (404) then POST with the last-applied annotation."""
    k = kind_of(obj)
    c.get(ident, k, obj["metadata"].get("namespace"), obj["metadata"]["name"], code=404)
    c.tick(c.rng.uniform(0.01, 0.05))
    return c.create(ident, kubectl_apply_ann(obj), query="?fieldManager=kubectl-client-side-apply&fieldValidation=Strict", **kw)


# ---------------------------------------------------------------------------------------------
# Case files

CASE_START = utc(2025, 3, 12, 9, 14, 7)


class Cases:
    """Collects the positive and negative sequences of one alert type."""

    def __init__(self, alert, notes=None):
        self.alert = alert
        self.notes = notes
        self.positive = []
        self.negative = []
        self.extra = {}

    def cluster(self, name, start=None):
        seed = int(hashlib.sha256(f"{self.alert}/{name}".encode()).hexdigest()[:12], 16)
        c = Cluster(seed, (start or CASE_START + sec(seed % 5000)) + sec((seed % 997) / 1000.0 + 0.000137))
        c._case_name = name
        return c

    def pos(self, c, expect=1, reason=(), notes=None, events=None):
        d = {"name": c._case_name, "events": events if events is not None else c.take(), "expect_count": expect,
             "reason_contains": list(reason)}
        if notes:
            d["notes"] = notes
        self.positive.append(d)

    def neg(self, c, notes=None, events=None):
        d = {"name": c._case_name, "events": events if events is not None else c.take()}
        if notes:
            d["notes"] = notes
        self.negative.append(d)

    def doc(self):
        d = {"alert": self.alert}
        if self.notes:
            d["notes"] = self.notes
        d.update(self.extra)
        d["positive"] = self.positive
        d["negative"] = self.negative
        return d


def ci_ident(ns="shop", pod="runner-x7kq2mzp-project-42-concurrent-0-b8k2w", node="k8s-worker-02", ip="10.244.2.31"):
    return sa_ident("ci", "deployer", pod=pod, node=node, src=ip, ua=KUBECTL,
                    authz=rbac_reason("RoleBinding", f"ci-deployer/{ns}", "ClusterRole", "edit", "ServiceAccount", "deployer/ci"))


def helm(ident):
    return ident.but(ua=HELM_UA)


def kcreate_q():
    return "?fieldManager=kubectl-create&fieldValidation=Strict"


def kapply_q():
    return "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"


def helm_q():
    return "?fieldManager=helm"


def node_join(c: Cluster, node, daemonsets, *, events=True):
    """A node registers; the DaemonSet controller starts one pod of each DaemonSet on it."""
    ip = NODES[node][0]
    nobj = {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": node, "creationTimestamp": None,
                         "labels": {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node,
                                    "kubernetes.io/os": "linux"},
                         "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "8", "ephemeral-storage": "203056560Ki", "memory": "32863768Ki", "pods": "110"},
                       "allocatable": {"cpu": "8", "ephemeral-storage": "187136925387", "memory": "32761368Ki", "pods": "110"},
                       "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"machineID": c.hexid(32), "systemUUID": stable_uuid("sysuuid", node), "bootID": c.uuid(),
                                    "kernelVersion": "6.1.0-21-cloud-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "containerRuntimeVersion": "containerd://1.7.16", "kubeletVersion": K8S_VERSION,
                                    "kubeProxyVersion": K8S_VERSION, "operatingSystem": "linux", "architecture": "amd64"}}}
    c.create(kubelet(node), nobj, query="", manager="kubelet")
    c.tick(0.4)
    pods = []
    for ds in daemonsets:
        pods += controller_pods(c, ds, DS_CTRL, [node], ds=True, running=False, events=events)
        c.tick(0.05)
    c.tick(c.rng.uniform(2, 5))
    for p in pods:
        pod_running(c, p, node)
        c.tick(c.rng.uniform(0.3, 1.2))
    return pods


# -- K8S_PrivilegedContainer -----------------------------------------------------------------


def case_privileged():
    cs = Cases("K8S_PrivilegedContainer")

    c = cs.cluster("privileged pod created with kubectl by a user")
    pod = pod_obj("node-shell", "default", podspec([ctr("shell", "docker.io/library/ubuntu:22.04",
                                                      command=["sleep", "infinity"], sc={"privileged": True})]),
                  labels={"run": "node-shell"})
    c.create(ALICE, pod, query="?fieldManager=kubectl-run")
    cs.pos(c, reason=["node-shell", "shell"])

    c = cs.cluster("deployment whose initContainer is privileged, applied by CI")
    ci = ci_ident("monitoring")
    spec = podspec([ctr("log-agent", "ghcr.io/example/log-agent:2.4.1", ports=[9102],
                        mounts=[("buffer", "/var/lib/log-agent")], resources=res())],
                   init=[ctr("sysctl-tuner", "docker.io/library/busybox:1.36.1",
                             command=["sh", "-c", "sysctl -w fs.inotify.max_user_watches=524288 && sysctl -w vm.max_map_count=262144"],
                             sc={"privileged": True})],
                   volumes=[empty_vol("buffer")])
    apply_create(c, ci, deploy_obj("log-agent", "monitoring", spec, {"app": "log-agent"}, replicas=2))
    cs.pos(c, reason=["log-agent", "sysctl-tuner"])

    c = cs.cluster("cronjob template with a privileged container, created by helm")
    cj = cronjob_obj("disk-cleanup", "ops", "17 3 * * *",
                     podspec([ctr("cleaner", "registry.example.com/ops/disk-cleaner:1.8.0",
                                  command=["/usr/local/bin/cleanup", "--older-than=72h", "--path=/host/var/lib/containerd"],
                                  sc={"privileged": True}, mounts=[("scratch", "/scratch")])],
                             volumes=[empty_vol("scratch")], restart="OnFailure"),
                     labels={"app.kubernetes.io/name": "disk-cleanup", "app.kubernetes.io/managed-by": "Helm"})
    cj["metadata"]["annotations"] = {"meta.helm.sh/release-name": "ops-tools", "meta.helm.sh/release-namespace": "ops"}
    c.create(helm(ALICE), cj, query=helm_q())
    cs.pos(c, reason=["disk-cleanup", "cleaner"])

    c = cs.cluster("daemonset with a privileged container outside kube-system")
    ds = daemonset_obj("gpu-tuner", "ml", podspec([ctr("tuner", "nvcr.io/example/gpu-tuner:0.3.2",
                                                        command=["/tuner", "--persistence-mode"], sc={"privileged": True})],
                                                   node_selector={"accelerator": "nvidia"}), {"app": "gpu-tuner"})
    apply_create(c, CAROL.but(authz=ALICE.authz), ds)
    cs.pos(c, reason=["gpu-tuner", "tuner"])

    c = cs.cluster("patch that makes an existing deployment privileged")
    dep = app_deploy("legacy-billing", "ops", "registry.example.com/billing/worker:5.2.0", port=None)
    dep["spec"]["template"]["spec"]["containers"][0]["name"] = "billing-worker"
    dep["spec"]["template"]["spec"]["containers"][0].pop("securityContext", None)
    apply_create(c, ci_ident("ops"), dep)
    c.tick(713)
    c.get(ALICE, KINDS["Deployment"], "ops", "legacy-billing")
    c.tick(21)
    c.patch(ALICE, KINDS["Deployment"], "ops", "legacy-billing",
            {"spec": {"template": {"spec": {"containers": [{"name": "billing-worker", "securityContext": {"privileged": True}}]}}}})
    cs.pos(c, reason=["legacy-billing", "billing-worker"],
           notes="the create is not privileged; only the patch (requestObject = the strategic merge patch, responseObject = the full Deployment) is")

    c = cs.cluster("privileged pod logged at Request level (request body only)")
    pod = pod_obj("netdebug", "default", podspec([ctr("tcpdump", "docker.io/nicolaka/netshoot:v0.12",
                                                    command=["tcpdump", "-i", "any", "-w", "/tmp/cap.pcap"],
                                                    sc={"privileged": True, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}})],
                                               host_network=True))
    c.create(ADMIN, pod, level=RQ)
    cs.pos(c, reason=["netdebug", "tcpdump"])

    c = cs.cluster("privileged ephemeral debug container added to a running pod")
    base = c.seed(pod_obj("checkout-6c9f7d8b5-x2kqp", "ops", podspec([ctr("checkout", "registry.example.com/shop/checkout:3.14.2")]),
                          labels={"app": "checkout", "pod-template-hash": "6c9f7d8b5"}))
    eph = {"name": "debugger-7xk2p", "image": "docker.io/library/busybox:1.36.1", "resources": {},
           "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
           "securityContext": {"privileged": True}, "stdin": True, "tty": True, "targetContainerName": "checkout"}
    patch = {"spec": {"ephemeralContainers": [eph]}}
    res_ = copy.deepcopy(base)
    full = dict(eph)
    full["terminationMessagePath"] = "/dev/termination-log"
    res_["spec"]["ephemeralContainers"] = [ordered(full, CONTAINER_ORDER + ["targetContainerName"])]
    res_["spec"] = ordered(res_["spec"], PODSPEC_ORDER)
    c.get(ALICE, KINDS["Pod"], "ops", base["metadata"]["name"])
    c.tick(0.2)
    c.patch(ALICE, KINDS["Pod"], "ops", base["metadata"]["name"], patch, sub="ephemeralcontainers", result=res_,
            query="", ann={"pod-security.kubernetes.io/enforce-policy": "privileged:latest"})
    cs.pos(c, reason=["debugger-7xk2p"],
           notes="kubectl debug --profile=sysadmin: PATCH of the pods/ephemeralcontainers subresource")

    # negatives
    c = cs.cluster("non-privileged pod")
    pod = pod_obj("nginx", "default", podspec([ctr("nginx", "docker.io/library/nginx:1.27.0", ports=[80],
                                                 sc={"privileged": False, "allowPrivilegeEscalation": False})]),
                  labels={"run": "nginx"})
    c.create(ALICE, pod, query="?fieldManager=kubectl-run")
    cs.neg(c)

    c = cs.cluster("privileged pod refused by PodSecurity admission (403 with body)")
    pod = pod_obj("root-shell", "shop", podspec([ctr("shell", "docker.io/library/alpine:3.20", command=["sleep", "3600"],
                                                   sc={"privileged": True})]))
    c.refused_create(BOB, pod, pss_violation("shop", "root-shell", ['privileged (container "shell" must not set securityContext.privileged=true)']))
    cs.neg(c)

    c = cs.cluster("privileged pod creation refused with 403 by RBAC (no body)")
    pod = pod_obj("root-shell", "kube-system", podspec([ctr("shell", "docker.io/library/alpine:3.20", sc={"privileged": True})]))
    c.forbidden(BOB, "create", KINDS["Pod"], "kube-system", "root-shell", level=RR, query=kcreate_q())
    cs.neg(c)

    c = cs.cluster("metadata-level create (no body)")
    c.create(ALICE, pod_obj("node-shell", "default", podspec([ctr("shell", "ubuntu:22.04", sc={"privileged": True})])),
             level=MD, query="?fieldManager=kubectl-run")
    cs.neg(c, notes="a Metadata-level event carries no object: nothing says the pod is privileged")

    c = cs.cluster("server-side dry run of a privileged pod")
    c.create(ALICE, pod_obj("node-shell", "default", podspec([ctr("shell", "ubuntu:22.04", sc={"privileged": True})])),
             dry_run=True, query="?fieldManager=kubectl-run")
    cs.neg(c, notes="?dryRun=All: validated and admitted, never persisted")

    c = cs.cluster("capabilities NET_ADMIN without privileged")
    ds = daemonset_obj("node-local-dns", "default", podspec([ctr("node-cache", "registry.k8s.io/dns/k8s-dns-node-cache:1.23.1",
                                                                 args=["-localip", "169.254.20.10", "-conf", "/etc/Corefile"],
                                                                 sc={"capabilities": {"add": ["NET_ADMIN"]}, "privileged": False})]),
                       {"k8s-app": "node-local-dns"})
    apply_create(c, ALICE, ds)
    cs.neg(c)

    c = cs.cluster("kube-proxy and calico-node pods started by the daemonset controller on a new node")
    kp = c.seed(kube_proxy_ds(), manager="kubeadm", age_days=90)
    cn = c.seed(calico_node_ds(), manager="kubectl-client-side-apply", age_days=90)
    node_join(c, "k8s-worker-04", [kp, cn])
    cs.neg(c, notes="privileged pods of well-known node components, created by system:serviceaccount:kube-system:daemon-set-controller")

    c = cs.cluster("kubelet status patch of an existing privileged pod")
    kp = c.seed(kube_proxy_ds(), manager="kubeadm", age_days=90)
    p = c.seed(pod_from_owner(kp, kp["spec"]["template"], {"controller-revision-hash": "7c5f6d8b9c", "pod-template-generation": "1"},
                              node_affinity="k8s-worker-01", ds=True, name="kube-proxy-8xk4v"), manager=KCM, age_days=12)
    pod_running(c, p, "k8s-worker-01")
    cs.neg(c)
    return cs


# -- K8S_SensitiveMount ----------------------------------------------------------------------


def case_sensitive_mount():
    cs = Cases("K8S_SensitiveMount")

    c = cs.cluster("kubectl debug node: host root filesystem mounted at /host")
    name = "node-debugger-k8s-worker-02-x7k2q"
    pod = pod_obj(name, "default", podspec([ctr("debugger", "docker.io/library/busybox:1.36.1",
                                                 mounts=[("host-root", "/host")], stdin=True, tty=True)],
                                             volumes=[hostpath("host-root", "/")], node="k8s-worker-02",
                                             host_network=True, host_pid=True, host_ipc=True, restart="Never",
                                             tolerations=[{"operator": "Exists"}]))
    pod["spec"]["containers"][0]["terminationMessagePolicy"] = "File"
    c.create(ADMIN, pod, query="?fieldManager=kubectl-debug")
    cs.pos(c, reason=[name])

    c = cs.cluster("build agent deployment mounting the Docker socket")
    spec = podspec([ctr("agent", "registry.example.com/ci/build-agent:4.2.0", env={"DOCKER_HOST": "unix:///var/run/docker.sock"},
                        mounts=[("docker-sock", "/var/run/docker.sock")], resources=res("500m", "1Gi", None, "4Gi"))],
                   volumes=[hostpath("docker-sock", "/var/run/docker.sock", "Socket")], sa="build-agent")
    apply_create(c, ci_ident("ci"), deploy_obj("build-agent", "ci", spec, {"app": "build-agent"}, replicas=3))
    cs.pos(c, reason=["build-agent", "/var/run/docker.sock"])

    c = cs.cluster("daemonset mounting host /etc and /root")
    spec = podspec([ctr("inspector", "ghcr.io/example/node-inspector:0.9.1", command=["/inspector", "--root=/host"],
                        mounts=[{"name": "host-etc", "readOnly": True, "mountPath": "/host/etc"},
                                ("host-root-home", "/host/root")])],
                   volumes=[hostpath("host-etc", "/etc", "Directory"), hostpath("host-root-home", "/root", "Directory")])
    c.create(helm(ALICE), daemonset_obj("node-inspector", "security-tools", spec, {"app": "node-inspector"}), query=helm_q())
    cs.pos(c, reason=["node-inspector", "/etc", "/root"], notes="one workload, two sensitive paths: one alert naming both")

    c = cs.cluster("cronjob mounting /var/lib/kubelet")
    spec = podspec([ctr("backup", "registry.example.com/ops/kubelet-backup:1.0.3",
                        command=["/bin/sh", "-c", "tar czf /backup/kubelet-$(date +%F).tgz -C /host/var/lib/kubelet pki config.yaml"],
                        mounts=[{"name": "kubelet-dir", "readOnly": True, "mountPath": "/host/var/lib/kubelet"}, ("backup", "/backup")])],
                   volumes=[hostpath("kubelet-dir", "/var/lib/kubelet"), {"name": "backup", "persistentVolumeClaim": {"claimName": "node-backups"}}],
                   restart="OnFailure")
    apply_create(c, ALICE, cronjob_obj("kubelet-backup", "ops", "0 2 * * 0", spec))
    cs.pos(c, reason=["kubelet-backup", "/var/lib/kubelet"])

    c = cs.cluster("pod mounting the containerd socket by its /run path")
    pod = pod_obj("image-lister", "default", podspec([ctr("crictl", "docker.io/rancher/crictl:v1.19.0",
                                                        command=["crictl", "--runtime-endpoint", "unix:///run/containerd/containerd.sock", "images"],
                                                        mounts=[("containerd", "/run/containerd/containerd.sock")])],
                                                   volumes=[hostpath("containerd", "/run/containerd/containerd.sock")]))
    c.create(ADMIN, pod)
    cs.pos(c, reason=["image-lister", "/run/containerd/containerd.sock"],
           notes="/var/run is a symlink to /run on every distribution: /run/containerd/containerd.sock is the same socket as /var/run/containerd/containerd.sock")

    c = cs.cluster("image garbage-collector daemonset mounting /var/run/containerd/containerd.sock")
    spec = podspec([ctr("gc", "ghcr.io/example/image-gc:1.2.0", args=["--endpoint=unix:///host/containerd.sock", "--keep=72h"],
                        mounts=[("containerd-sock", "/host/containerd.sock")])],
                   volumes=[hostpath("containerd-sock", "/var/run/containerd/containerd.sock", "Socket")],
                   tolerations=[{"operator": "Exists"}])
    c.create(helm(ALICE), daemonset_obj("image-gc", "ops", spec, {"app": "image-gc"}), query=helm_q())
    cs.pos(c, reason=["image-gc", "/var/run/containerd/containerd.sock"])

    c = cs.cluster("job mounting /home/admin and /proc, logged at Request level")
    spec = podspec([ctr("collector", "registry.example.com/ops/collector:2.1.0",
                        mounts=[("admin-home", "/data/home"), ("host-proc", "/host/proc")])],
                   volumes=[hostpath("admin-home", "/home/admin"), hostpath("host-proc", "/proc")], restart="Never")
    c.create(ADMIN, job_obj("collect-node-facts", "ops", spec), level=RQ)
    cs.pos(c, reason=["collect-node-facts", "/home/admin", "/proc"])

    # negatives
    c = cs.cluster("fluent-bit daemonset in kube-system reading /var/log, and its pods")
    fb = fluent_bit_ds()
    c.create(helm(ALICE), fb, query=helm_q())
    c.tick(0.03)
    controller_pods(c, c.stored(KINDS["DaemonSet"], "kube-system", "fluent-bit"), DS_CTRL, WORKERS, ds=True)
    cs.neg(c, notes="/var/log and /var/lib/docker/containers are not sensitive host paths")

    c = cs.cluster("emptyDir, configMap, secret and projected volumes only")
    dep = app_deploy("catalog", "shop", "registry.example.com/shop/catalog:2.3.1", cm="catalog-config", secret="catalog-db")
    dep["spec"]["template"]["spec"]["volumes"].append({"name": "cache", "emptyDir": {"sizeLimit": "512Mi"}})
    apply_create(c, ci_ident("shop"), dep)
    cs.neg(c)

    c = cs.cluster("hostPath of a local SSD and an application log directory")
    spec = podspec([ctr("scylla", "docker.io/scylladb/scylla:5.4.6", mounts=[("data", "/var/lib/scylla"), ("applog", "/var/log/scylla")])],
                   volumes=[hostpath("data", "/mnt/disks/ssd0", "Directory"), hostpath("applog", "/var/log/scylla", "DirectoryOrCreate")])
    apply_create(c, CAROL, statefulset_obj("scylla", "analytics", spec, {"app": "scylla"}, replicas=3))
    cs.neg(c)

    c = cs.cluster("pod with hostPath / refused with 403 by RBAC")
    c.forbidden(BOB, "create", KINDS["Pod"], "default", "node-debugger-k8s-worker-01-b2x9k", level=RR,
                query="?fieldManager=kubectl-debug")
    cs.neg(c)

    c = cs.cluster("pod with hostPath / refused by PodSecurity baseline")
    pod = pod_obj("host-peek", "shop", podspec([ctr("peek", "docker.io/library/alpine:3.20", mounts=[("host", "/host")])],
                                              volumes=[hostpath("host", "/")]))
    c.refused_create(BOB, pod, pss_violation("shop", "host-peek", ['hostPath volumes (volume "host")']))
    cs.neg(c)

    c = cs.cluster("metadata-level create (no body)")
    c.create(ADMIN, pod_obj("node-debugger-k8s-worker-03-k9x2m", "default",
                            podspec([ctr("debugger", "busybox:1.36.1")], volumes=[hostpath("host-root", "/")])),
             level=MD, query="?fieldManager=kubectl-debug")
    cs.neg(c)

    c = cs.cluster("calico-node, kube-proxy and EBS CSI node pods created by the daemonset controller")
    dss = [c.seed(calico_node_ds(), age_days=200), c.seed(kube_proxy_ds(), manager="kubeadm", age_days=200),
           c.seed(ebs_csi_node_ds(), manager="eks", age_days=120)]
    node_join(c, "k8s-worker-04", dss)
    cs.neg(c, notes="system node agents legitimately mount /proc (calico nodeproc), /etc/cni/net.d and /var/lib/kubelet (CSI)")
    return cs


# -- K8S_MaliciousContainerImage -------------------------------------------------------------


def case_miner_image():
    cs = Cases("K8S_MaliciousContainerImage")

    c = cs.cluster("pod running xmrig/xmrig")
    pod = pod_obj("perf-test", "default", podspec([ctr("worker", "xmrig/xmrig:6.21.0",
                                                     args=["-o", "pool.example.net:443", "-u", "44AFFq5kSiGBoZ...", "--tls", "-k", "--cpu-max-threads-hint=90"],
                                                     resources={"limits": {"cpu": "4"}, "requests": {"cpu": "4"}})]))
    c.create(sa_ident("default", "default", pod="web-7d8f9c6b5-q2w8x", node="k8s-worker-01", src="10.244.1.77", ua=CURL_UA,
                      authz=rbac_reason("ClusterRoleBinding", "default-admin", "ClusterRole", "cluster-admin", "ServiceAccount", "default/default")),
             pod, query="")
    cs.pos(c, reason=["perf-test", "xmrig/xmrig"])

    c = cs.cluster("deployment running docker.io/metal3d/xmrig")
    spec = podspec([ctr("app", "docker.io/metal3d/xmrig:latest", env={"POOL_URL": "pool.example.net:3333", "POOL_USER": "44AFFq5kSiGBoZ", "DONATE_LEVEL": "1"})])
    apply_create(c, ci_ident("analytics"), deploy_obj("batch-optimizer", "analytics", spec, {"app": "batch-optimizer"}, replicas=6))
    cs.pos(c, reason=["batch-optimizer", "metal3d/xmrig"])

    c = cs.cluster("cronjob running minergate/minergate-cli")
    spec = podspec([ctr("sync", "minergate/minergate-cli:latest", args=["-user", "ops@example.com", "-xmr", "4"])], restart="OnFailure")
    c.create(ADMIN, cronjob_obj("metrics-sync", "ops", "*/10 * * * *", spec))
    cs.pos(c, reason=["metrics-sync", "minergate/minergate-cli"])

    c = cs.cluster("daemonset whose init container runs xmr-stak")
    spec = podspec([ctr("pause", "registry.k8s.io/pause:3.9")],
                   init=[ctr("warmup", "ghcr.io/someuser/xmr-stak-cpu:2.10.8", command=["/usr/local/bin/xmr-stak-cpu", "--noTest"])])
    apply_create(c, ALICE, daemonset_obj("node-warmup", "default", spec, {"app": "node-warmup"}))
    cs.pos(c, reason=["node-warmup", "xmr-stak"])

    c = cs.cluster("patch that swaps a deployment's image for a miner")
    dep = app_deploy("report-worker", "analytics", "registry.example.com/analytics/report-worker:1.9.0", port=None)
    apply_create(c, ci_ident("analytics"), dep)
    c.tick(86400 * 6 + 771)
    c.patch(sa_ident("analytics", "report-worker", pod="report-worker-5b7c9d6f4-z8k2p", node="k8s-worker-03", src="10.244.3.19",
                     ua=PY_K8S_UA, authz=rbac_reason("RoleBinding", "report-worker/analytics", "ClusterRole", "edit",
                                                      "ServiceAccount", "report-worker/analytics")),
            KINDS["Deployment"], "analytics", "report-worker",
            {"spec": {"template": {"spec": {"containers": [{"name": "report-worker", "image": "docker.io/metal3d/xmrig:latest"}]}}}}, query="")
    cs.pos(c, reason=["report-worker", "metal3d/xmrig"])

    c = cs.cluster("nginx deployment")
    apply_create(c, ci_ident("shop"), app_deploy("web", "shop", "docker.io/library/nginx:1.27.0", port=80))
    cs.neg(c)

    c = cs.cluster("minecraft server (image name contains 'mine')")
    spec = podspec([ctr("mc", "docker.io/itzg/minecraft-server:2024.6.1", env={"EULA": "TRUE", "TYPE": "PAPER"}, ports=[25565])])
    apply_create(c, CAROL, statefulset_obj("minecraft", "analytics", spec, {"app": "minecraft"}))
    cs.neg(c)

    c = cs.cluster("miner pod creation refused with 403")
    c.forbidden(BOB, "create", KINDS["Pod"], "kube-system", "perf-test", level=RR, query=kcreate_q())
    cs.neg(c)

    c = cs.cluster("metadata-level create of a miner deployment (no body)")
    c.create(ALICE, deploy_obj("batch-optimizer", "analytics", podspec([ctr("app", "metal3d/xmrig:latest")]), {"app": "batch-optimizer"}),
             level=MD, query=kapply_q())
    cs.neg(c)

    c = cs.cluster("monitoring stack: prometheus node-exporter and kube-state-metrics")
    ne = daemonset_obj("node-exporter", "monitoring", podspec([ctr("node-exporter", "quay.io/prometheus/node-exporter:v1.8.1",
                                                                  args=["--path.procfs=/host/proc", "--path.sysfs=/host/sys"], ports=[9100])]),
                       {"app.kubernetes.io/name": "node-exporter"})
    ksm = app_deploy("kube-state-metrics", "monitoring", "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0", port=8080)
    c.create(helm(ALICE), ne, query=helm_q())
    c.tick(0.2)
    c.create(helm(ALICE), ksm, query=helm_q())
    cs.neg(c)
    return cs


# -- K8S_KubeSystemContainer -----------------------------------------------------------------


def case_kube_system_container():
    cs = Cases("K8S_KubeSystemContainer")

    c = cs.cluster("alpine pod named kube-helper created in kube-system by a user")
    pod = pod_obj("kube-helper", "kube-system", podspec([ctr("helper", "docker.io/library/alpine:3.20",
                                                           command=["/bin/sh", "-c", "while true; do sleep 3600; done"])]),
                  labels={"component": "kube-helper", "tier": "control-plane"})
    c.create(ADMIN, pod)
    cs.pos(c, reason=["kube-helper", "alpine"])

    c = cs.cluster("deployment with an unknown image in kube-system by a service account")
    spec = podspec([ctr("metrics-collector", "docker.io/library/busybox:1.36.1",
                        command=["sh", "-c", "while true; do wget -q -O- http://10.96.0.1:443 >/dev/null; sleep 30; done"])],
                   sa="default")
    c.create(sa_ident("shop", "storefront", pod="storefront-7d4b9c8f6d-x2kqp", node="k8s-worker-01", src="10.244.1.23",
                      ua=PY_REQUESTS_UA, authz=rbac_reason("ClusterRoleBinding", "storefront-ops", "ClusterRole", "cluster-admin",
                                                           "ServiceAccount", "storefront/shop")),
             deploy_obj("metrics-collector", "kube-system", spec, {"app": "metrics-collector"}), query="")
    cs.pos(c, reason=["metrics-collector", "busybox"])

    c = cs.cluster("daemonset impersonating a node agent in kube-system")
    spec = podspec([ctr("kube-proxy-helper", "ghcr.io/n0de-t00ls/agent:latest", sc={"privileged": True})],
                   host_network=True, host_pid=True, tolerations=[{"operator": "Exists"}])
    apply_create(c, ALICE, daemonset_obj("kube-proxy-helper", "kube-system", spec, {"k8s-app": "kube-proxy-helper"}))
    cs.pos(c, reason=["kube-proxy-helper", "ghcr.io/n0de-t00ls/agent"])

    c = cs.cluster("static-looking pod in kube-system created through impersonation")
    pod = pod_obj("etcd-backup-k8s-cp-01", "kube-system", podspec([ctr("etcd-backup", "docker.io/bitnami/etcd:3.5.14",
                                                                     command=["etcdctl", "snapshot", "save", "/backup/snap.db"])]),
                  labels={"component": "etcd-backup"})
    c.create(ADMIN, pod, query=kcreate_q())
    ev = c.events[-1]
    ev["impersonatedUser"] = {"username": "system:serviceaccount:kube-system:replicaset-controller",
                              "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]}
    # field order: impersonatedUser right after user
    c.events[-1] = ordered(ev, ["kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser"])
    cs.pos(c, reason=["etcd-backup-k8s-cp-01", "bitnami/etcd"],
           notes="an admin impersonating a system controller is still not a system controller")

    # negatives
    c = cs.cluster("kube-proxy and calico-node pods on a new node")
    node_join(c, "k8s-worker-04", [c.seed(kube_proxy_ds(), manager="kubeadm", age_days=90), c.seed(calico_node_ds(), age_days=90)])
    cs.neg(c)

    c = cs.cluster("coredns and metrics-server rollout restart")
    cd = c.seed(coredns_deploy(), manager="kubeadm", age_days=90)
    ms = c.seed(metrics_server_deploy(), age_days=60)
    for d, nodes in ((cd, ["k8s-worker-01", "k8s-worker-02"]), (ms, ["k8s-worker-03"])):
        now = ts_s(c.now)
        c.patch(ALICE, KINDS["Deployment"], "kube-system", d["metadata"]["name"],
                {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}},
                query="?fieldManager=kubectl-rollout")
        dd = c.stored(KINDS["Deployment"], "kube-system", d["metadata"]["name"])
        rs = rs_from_deployment(c, dd)
        c.create(DEPLOY_CTRL, rs, query="", manager=KCM)
        controller_pods(c, c.stored(KINDS["ReplicaSet"], "kube-system", rs["metadata"]["name"]), RS_CTRL, nodes)
        c.tick(30)
    cs.neg(c)

    c = cs.cluster("cilium agent pod created by the daemonset controller")
    node_join(c, "k8s-worker-04", [c.seed(cilium_ds(), manager="helm", age_days=40)])
    cs.neg(c)

    c = cs.cluster("EKS node: aws-node and EBS CSI node pods")
    node_join(c, "k8s-worker-04", [c.seed(aws_node_ds(), manager="eks", age_days=40), c.seed(ebs_csi_node_ds(), manager="eks", age_days=40)])
    cs.neg(c)

    c = cs.cluster("AKS node: azure-npm pod and konnectivity-agent replica")
    node_join(c, "k8s-worker-04", [c.seed(azure_npm_ds(), manager="addon-manager", age_days=40)])
    ka = c.seed(konnectivity_deploy(), manager="addon-manager", age_days=40)
    rs = c.seed(rs_from_deployment(c, ka), manager=KCM, age_days=40)
    controller_pods(c, rs, RS_CTRL, ["k8s-worker-04"])
    cs.neg(c)

    c = cs.cluster("alpine pod in an application namespace")
    c.create(BOB, pod_obj("kube-helper", "shop", podspec([ctr("helper", "docker.io/library/alpine:3.20", command=["sleep", "600"])])))
    cs.neg(c)

    c = cs.cluster("kube-system pod creation refused with 403")
    c.forbidden(BOB, "create", KINDS["Pod"], "kube-system", "kube-helper", level=RR, query=kcreate_q())
    cs.neg(c)

    c = cs.cluster("metadata-level create in kube-system (no body)")
    c.create(ADMIN, pod_obj("kube-helper", "kube-system", podspec([ctr("helper", "alpine:3.20")])), level=MD)
    cs.neg(c, notes="without the object there is no image to judge; the name alone is not evidence")
    return cs


# -- K8S_HighPrivilegesRole ------------------------------------------------------------------

CR = KINDS["ClusterRole"]
ROLE = KINDS["Role"]
CRB = KINDS["ClusterRoleBinding"]
RB = KINDS["RoleBinding"]


def bootstrap_role(name, rules):
    return role_obj(name, rules, labels={"kubernetes.io/bootstrapping": "rbac-defaults"},
                    annotations={"rbac.authorization.kubernetes.io/autoupdate": "true"})


def case_high_priv_role():
    cs = Cases("K8S_HighPrivilegesRole")

    c = cs.cluster("cluster role with wildcard verbs, resources and groups")
    apply_create(c, ALICE, role_obj("ops-superuser", [rule(["*"], ["*"], ["*"])]))
    cs.pos(c, reason=["ops-superuser"])

    c = cs.cluster("namespaced role that reads secrets")
    ci = ci_ident("shop").but(authz=rbac_reason("RoleBinding", "ci-deployer/shop", "ClusterRole", "admin", "ServiceAccount", "deployer/ci"))
    apply_create(c, ci, role_obj("config-sync", [rule([""], ["configmaps"], ["get", "list", "watch"]),
                                                 rule([""], ["secrets"], ["get", "list"])], ns="shop"))
    cs.pos(c, reason=["config-sync"])

    c = cs.cluster("cluster role allowing pods/exec")
    c.create(ALICE, role_obj("debug-exec", [rule([""], ["pods"], ["get", "list"]), rule([""], ["pods/exec", "pods/attach"], ["create", "get"])]))
    cs.pos(c, reason=["debug-exec"])

    c = cs.cluster("cluster role with escalate, bind and impersonate")
    c.create(helm(ALICE), role_obj("rbac-manager", [
        rule(["rbac.authorization.k8s.io"], ["clusterroles", "roles"], ["get", "list", "create", "update", "escalate", "bind"]),
        rule([""], ["users", "groups", "serviceaccounts"], ["impersonate"])],
        labels={"app.kubernetes.io/managed-by": "Helm"},
        annotations={"meta.helm.sh/release-name": "rbac-manager", "meta.helm.sh/release-namespace": "ops"}), query=helm_q())
    cs.pos(c, reason=["rbac-manager"])

    c = cs.cluster("cluster role granting nodes/proxy, from a pod's service account")
    c.create(sa_ident("monitoring", "metrics-agent", pod="metrics-agent-0", node="k8s-worker-03", src="10.244.3.45", ua=PY_K8S_UA,
                      authz=rbac_reason("ClusterRoleBinding", "metrics-agent-rbac", "ClusterRole", "cluster-admin", "ServiceAccount", "metrics-agent/monitoring")),
             role_obj("node-metrics-proxy", [rule([""], ["nodes", "nodes/proxy", "nodes/metrics"], ["get", "list"])]), query="")
    cs.pos(c, reason=["node-metrics-proxy"])

    # negatives
    c = cs.cluster("read-only role on pods and configmaps")
    apply_create(c, ci_ident("shop").but(authz=ci.authz), role_obj("pod-reader", [rule([""], ["pods", "pods/log", "configmaps"], ["get", "list", "watch"])], ns="shop"))
    cs.neg(c)

    c = cs.cluster("system:controller roles bootstrapped by the API server after an upgrade")
    c.create(APISERVER, bootstrap_role("system:controller:legacy-service-account-token-cleaner", [
        rule([""], ["configmaps"], ["get"], names=["kube-apiserver-legacy-service-account-token-tracking"]),
        rule([""], ["secrets"], ["delete", "patch"]),
        rule(["", "events.k8s.io"], ["events"], ["create", "patch", "update"])]), query="", manager="kube-apiserver")
    c.tick(0.002)
    c.create(APISERVER, bootstrap_role("system:controller:validatingadmissionpolicy-status-controller", [
        rule(["admissionregistration.k8s.io"], ["validatingadmissionpolicies"], ["get", "list", "watch"]),
        rule(["admissionregistration.k8s.io"], ["validatingadmissionpolicies/status"], ["get", "patch", "update"])]),
        query="", manager="kube-apiserver")
    c.tick(0.002)
    c.create(APISERVER, bootstrap_role("system:kube-controller-manager", [rule(["", "events.k8s.io"], ["events"], ["create", "patch", "update"]),
                                                                          rule([""], ["secrets", "serviceaccounts"], ["create"]),
                                                                          rule([""], ["secrets"], ["delete"], names=["attachdetach-controller-token"]),
                                                                          rule(["*"], ["*"], ["list", "watch"])]),
             query="", manager="kube-apiserver")
    cs.neg(c, notes="system:apiserver (loopback, system:masters) reconciling its bootstrap roles")

    c = cs.cluster("wildcard role refused by RBAC escalation check (403 with body)")
    obj = role_obj("ci-everything", [rule(["*"], ["*"], ["*"])], ns="shop")
    ci2 = ci_ident("shop").but(authz=ci.authz)
    c.refused_create(ci2, obj,
                     'roles.rbac.authorization.k8s.io "ci-everything" is forbidden: user "system:serviceaccount:ci:deployer" '
                     '(groups=["system:serviceaccounts" "system:serviceaccounts:ci" "system:authenticated"]) is attempting to grant '
                     'RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}',
                     query=kapply_q())
    cs.neg(c)

    c = cs.cluster("wildcard cluster role creation refused with 403 by RBAC (no body)")
    c.forbidden(BOB, "create", CR, None, "ops-superuser", level=RR, query=kapply_q())
    cs.neg(c)

    c = cs.cluster("metadata-level create (no body)")
    c.create(ALICE, role_obj("ops-superuser", [rule(["*"], ["*"], ["*"])]), level=MD, query=kapply_q())
    cs.neg(c)

    c = cs.cluster("aggregated edit role for cert-manager resources, and the aggregation controller updating admin")
    c.create(helm(ALICE), role_obj("cert-manager-edit", [rule(["cert-manager.io"], ["certificates", "certificaterequests", "issuers"],
                                                              ["create", "delete", "deletecollection", "patch", "update"]),
                                                         rule(["cert-manager.io"], ["certificates/status"], ["update"])],
                                   labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true",
                                           "rbac.authorization.k8s.io/aggregate-to-edit": "true"}), query=helm_q())
    admin = c.seed(role_obj("admin", [rule([""], ["secrets", "pods/exec", "pods/attach"], ["create", "delete", "get", "list", "patch", "update", "watch"])],
                            labels={"kubernetes.io/bootstrapping": "rbac-defaults"},
                            annotations={"rbac.authorization.kubernetes.io/autoupdate": "true"}), manager="kube-apiserver", age_days=200)
    admin["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}]}
    upd = copy.deepcopy(admin)
    upd["rules"].append(rule(["cert-manager.io"], ["certificates", "certificaterequests", "issuers"],
                             ["create", "delete", "deletecollection", "patch", "update"]))
    c.tick(0.05)
    c.update(controller("clusterrole-aggregation-controller"), upd)
    cs.neg(c, notes="updates of existing roles by the aggregation controller are not new roles")
    return cs


# -- K8S_ClusterAdminBinding -----------------------------------------------------------------


def case_cluster_admin_binding():
    cs = Cases("K8S_ClusterAdminBinding")

    c = cs.cluster("cluster-admin bound to a new service account")
    c.create(ALICE, {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": meta("ops-automation", "kube-system")})
    c.tick(4.2)
    c.create(ALICE, binding_obj("ops-automation-admin", "ClusterRole", "cluster-admin",
                                [subject("ServiceAccount", "ops-automation", "kube-system")]))
    cs.pos(c, reason=["ops-automation-admin", "ops-automation"])

    c = cs.cluster("rolebinding of cluster-admin to an external user in a namespace")
    c.create(ALICE, binding_obj("shop-contractor", "ClusterRole", "cluster-admin",
                                [subject("User", "contractor@partner.example")], ns="shop"))
    cs.pos(c, reason=["shop-contractor", "contractor@partner.example"])

    c = cs.cluster("cluster-admin granted to every authenticated user, from a pod")
    c.create(sa_ident("shop", "storefront", pod="storefront-7d4b9c8f6d-x2kqp", node="k8s-worker-01", src="10.244.1.23",
                      ua=PY_REQUESTS_UA, authz=rbac_reason("ClusterRoleBinding", "storefront-ops", "ClusterRole", "cluster-admin",
                                                           "ServiceAccount", "storefront/shop")),
             binding_obj("system:auth-delegator-ext", "ClusterRole", "cluster-admin",
                         [subject("Group", "system:authenticated")]), query="")
    cs.pos(c, reason=["system:auth-delegator-ext", "system:authenticated"],
           notes="a system:-looking name created by an application service account")

    # negatives
    c = cs.cluster("binding to the view cluster role")
    apply_create(c, ALICE, binding_obj("shop-devs-view", "ClusterRole", "view", [subject("Group", "shop-devs")]))
    cs.neg(c)

    c = cs.cluster("cluster-admin-viewers bound to view (name look-alike)")
    apply_create(c, ALICE, binding_obj("cluster-admin-viewers", "ClusterRole", "view", [subject("Group", "auditors")]))
    cs.neg(c)

    c = cs.cluster("API server bootstrap of cluster-admin and controller bindings")
    for name, role, subj in (("cluster-admin", "cluster-admin", subject("Group", "system:masters")),
                             ("system:controller:legacy-service-account-token-cleaner", "system:controller:legacy-service-account-token-cleaner",
                              subject("ServiceAccount", "legacy-service-account-token-cleaner", "kube-system"))):
        b = binding_obj(name, "ClusterRole", role, [subj], labels={"kubernetes.io/bootstrapping": "rbac-defaults"},
                        annotations={"rbac.authorization.kubernetes.io/autoupdate": "true"})
        c.create(APISERVER, b, query="", manager="kube-apiserver")
        c.tick(0.003)
    cs.neg(c)

    c = cs.cluster("edit rolebinding in an application namespace")
    apply_create(c, ALICE, binding_obj("shop-devs-edit", "ClusterRole", "edit", [subject("Group", "shop-devs")], ns="shop"))
    cs.neg(c)

    c = cs.cluster("cluster-admin binding refused with 403")
    c.forbidden(BOB, "create", CRB, None, "bob-admin", level=RR, query=kcreate_q())
    cs.neg(c)

    c = cs.cluster("metadata-level create (no body)")
    c.create(ALICE, binding_obj("ops-automation-admin", "ClusterRole", "cluster-admin",
                                [subject("ServiceAccount", "ops-automation", "kube-system")]), level=MD)
    cs.neg(c)
    return cs


# -- K8S_CoreDnsModification -----------------------------------------------------------------

COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


def coredns_cm():
    return configmap_obj("coredns", "kube-system", {"Corefile": COREFILE})


def case_coredns():
    cs = Cases("K8S_CoreDnsModification")
    CM = KINDS["ConfigMap"]

    c = cs.cluster("kubectl edit of the coredns configmap adds a hosts override")
    c.seed(coredns_cm(), manager="kubeadm", age_days=120)
    c.get(ALICE, CM, "kube-system", "coredns")
    c.tick(48)
    poisoned = COREFILE.replace("    prometheus :9153\n", "    hosts {\n       198.51.100.80 login.example.com\n       fallthrough\n    }\n    prometheus :9153\n")
    c.patch(ALICE, CM, "kube-system", "coredns", {"data": {"Corefile": poisoned}}, query="?fieldManager=kubectl-edit&fieldValidation=Strict")
    cs.pos(c, reason=["coredns"])

    c = cs.cluster("coredns configmap replaced (PUT) from a pod, forwarding to an outside resolver")
    cur = c.seed(coredns_cm(), manager="kubeadm", age_days=120)
    new = copy.deepcopy(cur)
    new["data"]["Corefile"] = COREFILE.replace("forward . /etc/resolv.conf", "forward . 198.51.100.53")
    sa = sa_ident("shop", "storefront", pod="storefront-7d4b9c8f6d-x2kqp", node="k8s-worker-01", src="10.244.1.23", ua=PY_K8S_UA,
                  authz=rbac_reason("ClusterRoleBinding", "storefront-ops", "ClusterRole", "cluster-admin", "ServiceAccount", "storefront/shop"))
    c.get(sa, CM, "kube-system", "coredns")
    c.tick(0.3)
    c.update(sa, new)
    cs.pos(c, reason=["coredns"])

    c = cs.cluster("metadata-level patch of the coredns configmap")
    c.seed(coredns_cm(), manager="kubeadm", age_days=120)
    c.patch(ADMIN, CM, "kube-system", "coredns", {"data": {"Corefile": COREFILE.replace("cache 30", "cache 300")}}, level=MD,
            query="?fieldManager=kubectl-patch")
    cs.pos(c, reason=["coredns"], notes="the verb and object name are enough: a change to kube-system/coredns at any level")

    # negatives
    c = cs.cluster("get of the coredns configmap")
    c.get(ALICE, CM, "kube-system", "coredns")
    c.get(controller("root-ca-cert-publisher"), CM, "kube-system", "kube-root-ca.crt")
    cs.neg(c)

    c = cs.cluster("update of another kube-system configmap (kube-proxy)")
    c.seed(configmap_obj("kube-proxy", "kube-system", {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n",
                                                        "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"}), manager="kubeadm")
    c.patch(ALICE, CM, "kube-system", "kube-proxy",
            {"data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"}},
            query="?fieldManager=kubectl-edit&fieldValidation=Strict")
    cs.neg(c)

    c = cs.cluster("configmap named coredns in an application namespace")
    c.seed(configmap_obj("coredns", "shop", {"Corefile": ".:5353 {\n    forward . 10.96.0.10\n}\n"}))
    c.patch(BOB, CM, "shop", "coredns", {"data": {"Corefile": ".:5353 {\n    forward . 10.96.0.10\n    cache 10\n}\n"}},
            query="?fieldManager=kubectl-edit&fieldValidation=Strict")
    cs.neg(c)

    c = cs.cluster("patch of the coredns configmap refused with 403")
    c.forbidden(BOB, "patch", CM, "kube-system", "coredns", level=RR, query="?fieldManager=kubectl-edit&fieldValidation=Strict")
    cs.neg(c)

    c = cs.cluster("update of the coredns configmap rejected with 409 conflict")
    cur = c.seed(coredns_cm(), manager="kubeadm", age_days=120)
    stale = copy.deepcopy(cur)
    stale["metadata"]["resourceVersion"] = str(int(cur["metadata"]["resourceVersion"]) - 4242)
    stale["data"]["Corefile"] = COREFILE.replace("cache 30", "cache 60")
    c.emit(ALICE.but(ua=PY_K8S_UA), "update", CM.path("kube-system", "coredns"), objref(CM, "kube-system", "coredns"), code=409,
           level=RR, req=stale, reason="Conflict",
           message='Operation cannot be fulfilled on configmaps "coredns": the object has been modified; please apply your changes to the latest version and try again',
           details={"name": "coredns", "kind": "configmaps"})
    cs.neg(c)
    return cs


# -- K8S_AdmissionController -----------------------------------------------------------------

MWC = KINDS["MutatingWebhookConfiguration"]
VWC = KINDS["ValidatingWebhookConfiguration"]


def case_admission():
    cs = Cases("K8S_AdmissionController")

    c = cs.cluster("gatekeeper validating webhook installed with helm")
    hooks = [webhook("validation.gatekeeper.sh", service=("gatekeeper-system", "gatekeeper-webhook-service", 443), path="/v1/admit",
                     mutating=False, rules_=[{"operations": ["CREATE", "UPDATE"], "apiGroups": ["*"], "apiVersions": ["*"],
                                              "resources": ["*"], "scope": "*"}],
                     ns_selector={"matchExpressions": [{"key": "admission.gatekeeper.sh/ignore", "operator": "DoesNotExist"}]},
                     timeout=3),
             webhook("check-ignore-label.gatekeeper.sh", service=("gatekeeper-system", "gatekeeper-webhook-service", 443),
                     path="/v1/admitlabel", mutating=False, failure="Fail",
                     rules_=[{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["*"], "resources": ["namespaces"], "scope": "*"}],
                     timeout=3)]
    c.create(helm(ALICE), webhook_obj("ValidatingWebhookConfiguration", "gatekeeper-validating-webhook-configuration", hooks,
                                      labels={"app.kubernetes.io/managed-by": "Helm", "gatekeeper.sh/system": "yes"}), query=helm_q())
    cs.pos(c, reason=["gatekeeper-validating-webhook-configuration"])

    c = cs.cluster("mutating webhook sending every pod to an outside URL, created from a pod")
    hooks = [webhook("sidecar-injector.kube-tools.io", url="https://198.51.100.60:8443/mutate",
                     rules_=[{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "*"}],
                     ca=False, failure="Ignore")]
    c.create(sa_ident("shop", "storefront", pod="storefront-7d4b9c8f6d-x2kqp", node="k8s-worker-01", src="10.244.1.23", ua=PY_REQUESTS_UA,
                      authz=rbac_reason("ClusterRoleBinding", "storefront-ops", "ClusterRole", "cluster-admin", "ServiceAccount", "storefront/shop")),
             webhook_obj("MutatingWebhookConfiguration", "sidecar-injector.kube-tools.io", hooks), query="")
    cs.pos(c, reason=["sidecar-injector.kube-tools.io"])

    c = cs.cluster("metadata-level create of a mutating webhook configuration")
    c.create(ADMIN, webhook_obj("MutatingWebhookConfiguration", "istio-sidecar-injector-canary",
                                [webhook("rev.namespace.sidecar-injector.istio.io", service=("istio-system", "istiod-canary", 443), path="/inject")]),
             level=MD, query=kapply_q())
    cs.pos(c, reason=["istio-sidecar-injector-canary"], notes="creation is visible without the body")

    # negatives
    c = cs.cluster("get and list of webhook configurations")
    c.list(ALICE, MWC, query="?limit=500")
    c.tick(1.1)
    c.get(ALICE, VWC, None, "gatekeeper-validating-webhook-configuration")
    cs.neg(c)

    c = cs.cluster("webhook creation refused with 403")
    c.forbidden(BOB, "create", MWC, None, "sidecar-injector.kube-tools.io", level=RR, query=kcreate_q())
    cs.neg(c)

    c = cs.cluster("cert-manager cainjector patching the caBundle of an existing webhook")
    w = c.seed(webhook_obj("ValidatingWebhookConfiguration", "cert-manager-webhook",
                           [webhook("webhook.cert-manager.io", service=("cert-manager", "cert-manager-webhook", 443), path="/validate",
                                    mutating=False, failure="Fail",
                                    rules_=[{"operations": ["CREATE", "UPDATE"], "apiGroups": ["cert-manager.io", "acme.cert-manager.io"],
                                             "apiVersions": ["v1"], "resources": ["*/*"], "scope": "*"}])],
                           annotations={"cert-manager.io/inject-ca-from-secret": "cert-manager/cert-manager-webhook-ca"}), manager="helm")
    cainj = sa_ident("cert-manager", "cert-manager-cainjector", pod="cert-manager-cainjector-7d8f9b6c5-m4n8p", node="k8s-worker-02",
                     src="10.244.2.17", ua="cainjector/v1.14.5 (linux/amd64) cert-manager/f3e2e4f7ef2efb1a0f1c0d5e4d8a2e8b0c6f1d3a",
                     authz=rbac_reason("ClusterRoleBinding", "cert-manager-cainjector", "ClusterRole", "cert-manager-cainjector",
                                       "ServiceAccount", "cert-manager-cainjector/cert-manager"))
    c.patch(cainj, VWC, None, "cert-manager-webhook",
            {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
             "metadata": {"name": "cert-manager-webhook"},
             "webhooks": [{"name": "webhook.cert-manager.io", "clientConfig": {"caBundle": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJlekNDQVNHZ0F3SUJBZ0lRZDBnT3VyYW5kb21jYWJ1bmRsZQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="}}]},
            query="?fieldManager=cert-manager-cainjector&force=true", op="Apply")
    cs.neg(c)

    c = cs.cluster("delete of a webhook configuration")
    c.seed(webhook_obj("MutatingWebhookConfiguration", "old-injector", [webhook("old.injector.example.com", service=("ops", "old-injector", 443))]))
    c.delete(ALICE, MWC, None, "old-injector")
    cs.neg(c)
    return cs


# -- K8S_DeleteEvents ------------------------------------------------------------------------


def case_delete_events():
    cs = Cases("K8S_DeleteEvents",
               notes="expect_count counts alerts after folding: repeated deletions by one identity in one namespace within minutes are one alert")

    c = cs.cluster("kubectl delete events --all in a namespace")
    c.list(BOB, CORE_EVENT, "shop", query="?limit=500")
    c.tick(0.3)
    for i in range(6):
        nm = f"storefront-7d4b9c8f6d-{c.suffix()}.{c.hexid(16)}"
        c.delete(BOB, CORE_EVENT, "shop", nm, level=MD)
        c.tick(c.rng.uniform(0.02, 0.08))
    cs.pos(c, reason=["shop"], notes="kubectl deletes each listed event with its own DELETE")

    c = cs.cluster("deletecollection of core events from a pod with curl")
    sa = sa_ident("kube-system", "ops-automation", pod="ops-runner-5f7d9c8b6-w2x4z", node="k8s-worker-03", src="10.244.3.88", ua=CURL_UA,
                  authz=rbac_reason("ClusterRoleBinding", "ops-automation-admin", "ClusterRole", "cluster-admin", "ServiceAccount", "ops-automation/kube-system"))
    c.deletecollection(sa, CORE_EVENT, "kube-system", level=MD)
    cs.pos(c, reason=["kube-system"])

    c = cs.cluster("delete of one events.k8s.io event at RequestResponse level")
    nm = f"kube-helper.{c.hexid(16)}"
    c.delete(ADMIN.but(ua=PY_K8S_UA), NEW_EVENT, "kube-system", nm, level=RR,
             body={"kind": "DeleteOptions", "apiVersion": "events.k8s.io/v1", "propagationPolicy": "Foreground"})
    cs.pos(c, reason=["kube-system"])

    c = cs.cluster("deletecollection of events.k8s.io events across all namespaces")
    c.deletecollection(ALICE, NEW_EVENT, None, level=MD)
    cs.pos(c)

    # negatives
    c = cs.cluster("namespace controller purging events of a deleted namespace")
    ns = "review-pr-482"
    c.emit(ci_ident(ns), "delete", f"/api/v1/namespaces/{ns}", objref(KINDS["Namespace"], None, ns), level=RR,
           req={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
    c.tick(0.5)
    for k in (CORE_EVENT, NEW_EVENT, KINDS["ConfigMap"], KINDS["Pod"], KINDS["Service"]):
        c.deletecollection(NS_CTRL, k, ns, level=RQ,
                           body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        c.tick(0.02)
    cs.neg(c)

    c = cs.cluster("get, list and watch of events")
    c.list(BOB, CORE_EVENT, "shop", query="?limit=500")
    c.tick(2)
    c.get(BOB, CORE_EVENT, "shop", f"web-6d8f7c9b5-{c.suffix()}.{c.hexid(16)}")
    c.tick(1)
    c.watch(ALICE, NEW_EVENT, None, duration=42, advance=True)
    cs.neg(c)

    c = cs.cluster("events created by controllers and the kubelet")
    pod = c.seed(pod_obj("web-6d8f7c9b5-q2w8x", "shop", podspec([ctr("web", "nginx:1.27.0")])))
    c.k8s_event(SCHED_IDENT, "shop", pod, "Scheduled", "Successfully assigned shop/web-6d8f7c9b5-q2w8x to k8s-worker-01",
                new_api=True)
    c.tick(1.4)
    c.k8s_event(kubelet("k8s-worker-01"), "shop", pod, "Pulled", 'Container image "nginx:1.27.0" already present on machine',
                source={"component": "kubelet", "host": "k8s-worker-01"})
    cs.neg(c)

    c = cs.cluster("event deletion refused with 403")
    c.forbidden(BOB, "delete", CORE_EVENT, "kube-system", f"kube-apiserver-k8s-cp-01.{c.hexid(16)}", level=MD)
    cs.neg(c)

    c = cs.cluster("delete of a configmap named events")
    c.seed(configmap_obj("events", "shop", {"topics": "orders,payments"}))
    c.delete(BOB, KINDS["ConfigMap"], "shop", "events")
    cs.neg(c)
    return cs


# -- Exposure (LoadBalancer Service x workload) ----------------------------------------------

SVC = KINDS["Service"]


def lb_ready(c: Cluster, ns, name, ip):
    svc = c.stored(SVC, ns, name)
    c.k8s_event(SVC_CTRL, ns, svc, "EnsuringLoadBalancer", "Ensuring load balancer", source={"component": "service-controller"})
    c.tick(c.rng.uniform(8, 25))
    res_ = copy.deepcopy(svc)
    res_["status"] = {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}
    c.patch(SVC_CTRL, SVC, ns, name, {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}}, sub="status",
            result=res_, query="", manager="cloud-controller-manager")
    c.k8s_event(SVC_CTRL, ns, svc, "EnsuredLoadBalancer", "Ensured load balancer", source={"component": "service-controller"})


def create_workload(c, ident, wl, *, cascade=False, nodes=("k8s-worker-01", "k8s-worker-02"), apply=True, level=RR):
    if cascade and wl["kind"] == "Deployment":
        if apply:
            c.get(ident, KINDS["Deployment"], wl["metadata"]["namespace"], wl["metadata"]["name"], code=404)
            c.tick(0.02)
            return rollout(c, ident, kubectl_apply_ann(wl), list(nodes)[:wl["spec"]["replicas"]], query=kapply_q(), level=level)
        return rollout(c, ident, wl, list(nodes)[:wl["spec"]["replicas"]], level=level)
    if apply:
        return apply_create(c, ident, wl, level=level)
    return c.create(ident, wl, level=level)


def exposure(c, ident, wl, svc, *, order="workload-first", gap=95.0, cascade=False, lb_ip=None, svc_level=RR, wl_level=RR,
             svc_ident=None, prelude=()):
    for obj in prelude:
        apply_create(c, ident, obj)
        c.tick(c.rng.uniform(0.5, 2))
    steps = [lambda: create_workload(c, ident, wl, cascade=cascade, level=wl_level),
             lambda: apply_create(c, svc_ident or ident, svc, level=svc_level)]
    if order != "workload-first":
        steps.reverse()
    steps[0]()
    c.tick(gap)
    steps[1]()
    if lb_ip and svc["spec"]["type"] == "LoadBalancer" and svc_level == RR:
        c.tick(0.5)
        lb_ready(c, svc["metadata"]["namespace"], svc["metadata"]["name"], lb_ip)


def pg_deploy(name, ns, image="docker.io/library/postgres:16.3", env=None, labels=None, kind="Deployment", mounts=None,
              vols=None, args=None, replicas=1):
    labels = labels or {"app": name}
    c = ctr("postgres", image, args=args, env=env, ports=[{"name": "postgres", "containerPort": 5432}], mounts=mounts,
            resources=res("250m", "512Mi", None, "2Gi"))
    spec = podspec([c], volumes=vols)
    if kind == "StatefulSet":
        return statefulset_obj(name, ns, spec, labels, replicas=replicas, vct=[pvc_template("data", "50Gi")])
    return deploy_obj(name, ns, spec, labels, replicas=replicas)


def lb(name, ns, selector, ports, ranges=None, type_="LoadBalancer", annotations=None, labels=None):
    return service_obj(name, ns, selector, ports, type_=type_, source_ranges=ranges, annotations=annotations, labels=labels)


PG_SECRET_ENV = {"POSTGRES_PASSWORD": {"secretKeyRef": {"name": "orders-db-credentials", "key": "password"}}}


def case_pg_trust():
    cs = Cases("K8S_ExposedPostgresTrustAuth",
               notes="one alert per exposed (Service, workload) pair; pods created by controllers for that workload do not add alerts")

    c = cs.cluster("postgres with POSTGRES_HOST_AUTH_METHOD=trust, then a LoadBalancer for it")
    exposure(c, ci_ident("shop"), pg_deploy("orders-postgres", "shop", env={"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": "orders"}),
             lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432, "postgres")]), lb_ip="203.0.113.61")
    cs.pos(c, reason=["orders-db-lb", "orders-postgres"])

    c = cs.cluster("LoadBalancer first, then a trust-auth postgres statefulset it selects")
    exposure(c, CAROL, pg_deploy("warehouse-pg", "analytics", image="postgres:15-alpine", kind="StatefulSet",
                                 env={"POSTGRES_HOST_AUTH_METHOD": "trust", "PGDATA": "/var/lib/postgresql/data/pgdata"},
                                 mounts=[("data", "/var/lib/postgresql/data")]),
             lb("warehouse-pg", "analytics", {"app": "warehouse-pg"}, [(5432, "postgres", "tcp-postgres")]),
             order="service-first", gap=3600 * 3)
    cs.pos(c, reason=["warehouse-pg"])

    c = cs.cluster("bitnami postgresql with a pg_hba.conf configmap allowing trust from anywhere")
    hba = ("# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
           "local   all       all                 trust\n"
           "host    all       all   127.0.0.1/32  trust\n"
           "host    all       all   0.0.0.0/0     trust\n"
           "host    all       all   ::/0          trust\n")
    cm = configmap_obj("reporting-pg-hba", "analytics", {"pg_hba.conf": hba})
    wl = pg_deploy("reporting-db", "analytics", image="docker.io/bitnami/postgresql:16.3.0-debian-12-r14", kind="StatefulSet",
                   labels={"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "reporting-db"},
                   env={"POSTGRESQL_PORT_NUMBER": "5432", "POSTGRESQL_VOLUME_DIR": "/bitnami/postgresql",
                        "POSTGRES_PASSWORD": {"secretKeyRef": {"name": "reporting-db", "key": "postgres-password"}}},
                   mounts=[("data", "/bitnami/postgresql"), ("custom-hba", "/bitnami/postgresql/conf/pg_hba.conf")],
                   vols=[cm_vol("custom-hba", "reporting-pg-hba")])
    wl["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][1]["subPath"] = "pg_hba.conf"
    exposure(c, helm(CAROL), wl, lb("reporting-db", "analytics",
                                    {"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "reporting-db"},
                                    [(5432, "tcp-postgresql", "tcp-postgresql")]), prelude=[cm], gap=1.2)
    cs.pos(c, reason=["reporting-db", "reporting-pg-hba"])

    c = cs.cluster("trust-auth postgres deployment with its replicaset and pods, then a LoadBalancer")
    exposure(c, ci_ident("shop"), pg_deploy("cart-postgres", "shop", env={"POSTGRES_HOST_AUTH_METHOD": "trust"}),
             lb("cart-db-public", "shop", {"app": "cart-postgres"}, [(5432, 5432)]), cascade=True, lb_ip="203.0.113.62", gap=300)
    cs.pos(c, reason=["cart-db-public", "cart-postgres"])

    # negatives
    c = cs.cluster("trust-auth postgres behind a ClusterIP service")
    exposure(c, ci_ident("shop"), pg_deploy("orders-postgres", "shop", env={"POSTGRES_HOST_AUTH_METHOD": "trust"}),
             lb("orders-postgres", "shop", {"app": "orders-postgres"}, [(5432, 5432)], type_="ClusterIP"))
    cs.neg(c)

    c = cs.cluster("LoadBalancer for postgres with password authentication")
    exposure(c, ci_ident("shop"), pg_deploy("orders-postgres", "shop", env=PG_SECRET_ENV),
             lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432)], ranges=["203.0.113.0/24"]))
    cs.neg(c)

    c = cs.cluster("pg_hba.conf with trust only for local connections")
    hba = ("local   all  all                 trust\n"
           "host    all  all   127.0.0.1/32  trust\n"
           "host    all  all   ::1/128       trust\n"
           "host    all  all   all           scram-sha-256\n")
    wl = pg_deploy("ledger-db", "payments", args=["-c", "hba_file=/etc/postgresql/pg_hba.conf"], env=PG_SECRET_ENV,
                   mounts=[("hba", "/etc/postgresql")], vols=[cm_vol("hba", "ledger-pg-hba")])
    exposure(c, ALICE, wl, lb("ledger-db", "payments", {"app": "ledger-db"}, [(5432, 5432)]),
             prelude=[configmap_obj("ledger-pg-hba", "payments", {"pg_hba.conf": hba})])
    cs.neg(c)

    c = cs.cluster("LoadBalancer in another namespace with the same selector")
    apply_create(c, ci_ident("shop"), pg_deploy("orders-postgres", "shop", env={"POSTGRES_HOST_AUTH_METHOD": "trust"}))
    c.tick(40)
    apply_create(c, ALICE, lb("orders-db-lb", "payments", {"app": "orders-postgres"}, [(5432, 5432)]))
    cs.neg(c, notes="a Service only selects pods in its own namespace")

    c = cs.cluster("LoadBalancer whose selector does not match the postgres pods")
    apply_create(c, ci_ident("shop"), pg_deploy("orders-postgres", "shop", env={"POSTGRES_HOST_AUTH_METHOD": "trust"}))
    c.tick(40)
    apply_create(c, ci_ident("shop"), lb("orders-api", "shop", {"app": "orders-api"}, [(443, 8443, "https")]))
    cs.neg(c)

    c = cs.cluster("LoadBalancer creation refused with 403")
    apply_create(c, ci_ident("shop"), pg_deploy("orders-postgres", "shop", env={"POSTGRES_HOST_AUTH_METHOD": "trust"}))
    c.tick(30)
    c.forbidden(BOB, "create", SVC, "shop", "orders-db-lb", level=RR, query=kapply_q())
    cs.neg(c)

    c = cs.cluster("metadata-level LoadBalancer create (no body)")
    apply_create(c, ci_ident("shop"), pg_deploy("orders-postgres", "shop", env={"POSTGRES_HOST_AUTH_METHOD": "trust"}))
    c.tick(30)
    c.create(ALICE, lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432)]), level=MD, query=kapply_q())
    cs.neg(c)
    return cs


def case_pg_broad():
    cs = Cases("K8S_ExposedPostgresBroadIPRange")
    pgw = lambda name="orders-postgres", ns="shop": pg_deploy(name, ns, env=PG_SECRET_ENV)

    c = cs.cluster("postgres LoadBalancer without loadBalancerSourceRanges")
    exposure(c, ci_ident("shop"), pgw(), lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432)]), lb_ip="203.0.113.63")
    cs.pos(c, reason=["orders-db-lb"])

    c = cs.cluster("postgres LoadBalancer open to 0.0.0.0/0")
    exposure(c, ci_ident("shop"), pgw(), lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432)], ranges=["0.0.0.0/0"]))
    cs.pos(c, reason=["orders-db-lb", "0.0.0.0/0"])

    c = cs.cluster("dual-stack postgres LoadBalancer open to ::/0")
    svc = lb("ledger-db", "payments", {"app": "ledger-db"}, [(5432, 5432)], ranges=["203.0.113.0/24", "::/0"])
    svc["spec"]["ipFamilyPolicy"] = "PreferDualStack"
    exposure(c, ALICE, pgw("ledger-db", "payments"), svc, order="service-first", gap=20)
    cs.pos(c, reason=["ledger-db", "::/0"])

    c = cs.cluster("postgres LoadBalancer open to 0.0.0.0/1 and 128.0.0.0/1")
    exposure(c, CAROL, pg_deploy("warehouse-pg", "analytics", image="docker.io/bitnami/postgresql:16.3.0-debian-12-r14", env=PG_SECRET_ENV,
                                 kind="StatefulSet"),
             lb("warehouse-pg", "analytics", {"app": "warehouse-pg"}, [(5432, 5432)], ranges=["0.0.0.0/1", "128.0.0.0/1"]))
    cs.pos(c, reason=["warehouse-pg", "0.0.0.0/1"], notes="two halves of the internet are the internet")

    c = cs.cluster("postgres LoadBalancer with one narrow and one /4 range")
    exposure(c, ci_ident("shop"), pgw(), lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432)],
                                            ranges=["203.0.113.0/24", "96.0.0.0/4"]))
    cs.pos(c, reason=["orders-db-lb", "96.0.0.0/4"])

    c = cs.cluster("existing postgres ClusterIP service patched to LoadBalancer")
    apply_create(c, ci_ident("shop"), pgw())
    c.tick(60)
    apply_create(c, ci_ident("shop"), lb("orders-postgres", "shop", {"app": "orders-postgres"}, [(5432, 5432)], type_="ClusterIP"))
    c.tick(86400 * 2 + 311)
    cur = c.stored(SVC, "shop", "orders-postgres")
    out = copy.deepcopy(cur)
    out["spec"]["type"] = "LoadBalancer"
    out["spec"]["externalTrafficPolicy"] = "Cluster"
    out["spec"]["allocateLoadBalancerNodePorts"] = True
    out["spec"]["ports"][0]["nodePort"] = 31544
    out["spec"] = ordered(out["spec"], ["ports", "selector", "clusterIP", "clusterIPs", "type", "sessionAffinity",
                                        "externalTrafficPolicy", "ipFamilies", "ipFamilyPolicy", "allocateLoadBalancerNodePorts",
                                        "internalTrafficPolicy"])
    c.patch(BOB, SVC, "shop", "orders-postgres", {"spec": {"type": "LoadBalancer"}}, result=out)
    cs.pos(c, reason=["orders-postgres"])

    # negatives
    c = cs.cluster("postgres LoadBalancer restricted to 203.0.113.0/24")
    exposure(c, ci_ident("shop"), pgw(), lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432)], ranges=["203.0.113.0/24"]))
    cs.neg(c)

    c = cs.cluster("postgres LoadBalancer restricted to 10.0.0.0/8 and 192.0.2.0/24")
    exposure(c, ci_ident("shop"), pgw(), lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432)],
                                            ranges=["10.0.0.0/8", "192.0.2.0/24"]))
    cs.neg(c, notes="/8 is the boundary: only prefixes shorter than /8 count as very wide")

    c = cs.cluster("postgres behind a ClusterIP service")
    exposure(c, ci_ident("shop"), pgw(), lb("orders-postgres", "shop", {"app": "orders-postgres"}, [(5432, 5432)], type_="ClusterIP"))
    cs.neg(c)

    c = cs.cluster("LoadBalancer without source ranges for nginx")
    exposure(c, ci_ident("shop"), app_deploy("web", "shop", "docker.io/library/nginx:1.27.0", port=80),
             lb("web", "shop", {"app": "web"}, [(80, 80, "http"), (443, 443, "https")]))
    cs.neg(c)

    c = cs.cluster("postgres LoadBalancer creation refused with 403")
    apply_create(c, ci_ident("shop"), pgw())
    c.tick(20)
    c.forbidden(BOB, "create", SVC, "shop", "orders-db-lb", level=RR, query=kapply_q())
    cs.neg(c)

    c = cs.cluster("metadata-level LoadBalancer create (no body)")
    apply_create(c, ci_ident("shop"), pgw())
    c.tick(20)
    c.create(ALICE, lb("orders-db-lb", "shop", {"app": "orders-postgres"}, [(5432, 5432)]), level=MD)
    cs.neg(c)
    return cs


def redis_deploy(name, ns, image="docker.io/library/redis:7.2.5-alpine", kind="Deployment", labels=None, port=6379):
    labels = labels or {"app": name}
    spec = podspec([ctr("redis", image, args=["--appendonly", "yes"] if "bitnami" not in image else None,
                        ports=[{"name": "redis", "containerPort": port}], resources=res("100m", "256Mi", None, "1Gi"))])
    if kind == "StatefulSet":
        return statefulset_obj(name, ns, spec, labels, vct=[pvc_template("redis-data", "8Gi")])
    return deploy_obj(name, ns, spec, labels)


def case_redis():
    cs = Cases("K8S_ExposedRedis", notes="one alert per exposed (Service, workload) pair")

    c = cs.cluster("redis deployment, then a LoadBalancer on 6379")
    exposure(c, ci_ident("shop"), redis_deploy("session-cache", "shop"),
             lb("session-cache-lb", "shop", {"app": "session-cache"}, [(6379, 6379, "redis")]), lb_ip="203.0.113.64")
    cs.pos(c, reason=["session-cache-lb", "session-cache"])

    c = cs.cluster("LoadBalancer first, then a bitnami redis statefulset")
    labels = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "queue", "app.kubernetes.io/component": "master"}
    exposure(c, helm(CAROL), redis_deploy("queue-redis-master", "analytics", image="docker.io/bitnami/redis:7.2.5-debian-12-r0",
                                          kind="StatefulSet", labels=labels),
             lb("queue-redis-master", "analytics", {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "queue",
                                                     "app.kubernetes.io/component": "master"}, [(6379, "redis", "tcp-redis")]),
             order="service-first", gap=4.0)
    cs.pos(c, reason=["queue-redis-master"])

    c = cs.cluster("redis-stack deployment with replicaset and pods, exposed on a non-default port")
    exposure(c, ci_ident("shop"), redis_deploy("feature-flags", "shop", image="docker.io/redis/redis-stack-server:7.2.0-v11"),
             lb("feature-flags", "shop", {"app": "feature-flags"}, [(16379, 6379, "redis")]), cascade=True, lb_ip="203.0.113.65")
    cs.pos(c, reason=["feature-flags"])

    c = cs.cluster("redis behind ClusterIP")
    exposure(c, ci_ident("shop"), redis_deploy("session-cache", "shop"),
             lb("session-cache", "shop", {"app": "session-cache"}, [(6379, 6379)], type_="ClusterIP"))
    cs.neg(c)

    c = cs.cluster("LoadBalancer for nginx next to a redis deployment")
    apply_create(c, ci_ident("shop"), redis_deploy("session-cache", "shop"))
    c.tick(10)
    exposure(c, ci_ident("shop"), app_deploy("web", "shop", "docker.io/library/nginx:1.27.0", port=80),
             lb("web", "shop", {"app": "web"}, [(80, 80, "http")]))
    cs.neg(c)

    c = cs.cluster("redis LoadBalancer in another namespace with the same selector")
    apply_create(c, ci_ident("shop"), redis_deploy("session-cache", "shop"))
    c.tick(30)
    apply_create(c, ALICE, lb("session-cache-lb", "payments", {"app": "session-cache"}, [(6379, 6379)]))
    cs.neg(c)

    c = cs.cluster("redis LoadBalancer refused with 403")
    apply_create(c, ci_ident("shop"), redis_deploy("session-cache", "shop"))
    c.tick(30)
    c.forbidden(BOB, "create", SVC, "shop", "session-cache-lb", level=RR, query=kapply_q())
    cs.neg(c)

    c = cs.cluster("metadata-level LoadBalancer create (no body)")
    apply_create(c, ci_ident("shop"), redis_deploy("session-cache", "shop"))
    c.tick(30)
    c.create(ALICE, lb("session-cache-lb", "shop", {"app": "session-cache"}, [(6379, 6379)]), level=MD)
    cs.neg(c)
    return cs


def dashboard_deploy():
    spec = podspec([ctr("kubernetes-dashboard", "docker.io/kubernetesui/dashboard:v2.7.0",
                        args=["--auto-generate-certificates", "--namespace=kubernetes-dashboard"],
                        ports=[{"containerPort": 8443}],
                        mounts=[("kubernetes-dashboard-certs", "/certs"), ("tmp-volume", "/tmp")],
                        probes={"livenessProbe": {"httpGet": {"path": "/", "port": 8443, "scheme": "HTTPS"},
                                                  "initialDelaySeconds": 30, "timeoutSeconds": 30}},
                        sc={"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsUser": 1001, "runAsGroup": 2001})],
                   volumes=[secret_vol("kubernetes-dashboard-certs", "kubernetes-dashboard-certs"), empty_vol("tmp-volume")],
                   sa="kubernetes-dashboard", node_selector=node_sel_linux(),
                   tolerations=[{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}])
    return deploy_obj("kubernetes-dashboard", "kubernetes-dashboard", spec, {"k8s-app": "kubernetes-dashboard"})


def dashboard_svc(type_="LoadBalancer", name="kubernetes-dashboard", sel="kubernetes-dashboard"):
    return lb(name, "kubernetes-dashboard", {"k8s-app": sel}, [(443, 8443)], type_=type_, labels={"k8s-app": sel})


def case_dashboard():
    cs = Cases("K8S_ExposedDashboard")

    c = cs.cluster("dashboard deployment and a LoadBalancer service for it")
    exposure(c, ALICE, dashboard_deploy(), dashboard_svc(), gap=2.5, lb_ip="203.0.113.66",
             prelude=[{"kind": "Namespace", "apiVersion": "v1", "metadata": meta("kubernetes-dashboard")}])
    cs.pos(c, reason=["kubernetes-dashboard"])

    c = cs.cluster("dashboard service patched from ClusterIP to LoadBalancer")
    exposure(c, ALICE, dashboard_deploy(), dashboard_svc("ClusterIP"), gap=1.5)
    c.tick(86400 * 3 + 5127)
    cur = c.stored(SVC, "kubernetes-dashboard", "kubernetes-dashboard")
    out = copy.deepcopy(cur)
    out["spec"].update({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": True})
    out["spec"]["ports"][0]["nodePort"] = 30443
    c.patch(ADMIN, SVC, "kubernetes-dashboard", "kubernetes-dashboard", {"spec": {"type": "LoadBalancer"}}, result=out)
    cs.pos(c, reason=["kubernetes-dashboard"], notes="installed as ClusterIP (recommended manifest), exposed three days later")

    c = cs.cluster("LoadBalancer selecting k8s-app=kubernetes-dashboard under another name")
    apply_create(c, ADMIN, dashboard_svc(name="k8s-ui-external"))
    cs.pos(c, reason=["k8s-ui-external"])

    c = cs.cluster("dashboard behind ClusterIP, as installed by the recommended manifest")
    exposure(c, ALICE, dashboard_deploy(), dashboard_svc("ClusterIP"), gap=1.5)
    cs.neg(c)

    c = cs.cluster("LoadBalancer for the dashboard metrics scraper")
    apply_create(c, ALICE, lb("dashboard-metrics-scraper", "kubernetes-dashboard", {"k8s-app": "dashboard-metrics-scraper"}, [(8000, 8000)]))
    cs.neg(c)

    c = cs.cluster("patch to LoadBalancer refused with 403")
    exposure(c, ALICE, dashboard_deploy(), dashboard_svc("ClusterIP"), gap=1.5)
    c.tick(3600)
    c.forbidden(BOB, "patch", SVC, "kubernetes-dashboard", "kubernetes-dashboard", level=RR, query="?fieldManager=kubectl-patch")
    cs.neg(c)

    c = cs.cluster("metadata-level patch of the dashboard service (no body)")
    exposure(c, ALICE, dashboard_deploy(), dashboard_svc("ClusterIP"), gap=1.5)
    c.tick(3600)
    c.patch(ADMIN, SVC, "kubernetes-dashboard", "kubernetes-dashboard", {"spec": {"type": "LoadBalancer"}}, level=MD)
    cs.neg(c)
    return cs


def istio_gw_deploy():
    spec = podspec([ctr("istio-proxy", "docker.io/istio/proxyv2:1.22.1", args=["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                                                                             "--proxyLogLevel=warning", "--log_output_level=default:info"],
                        ports=[{"containerPort": 15021}, {"containerPort": 8080}, {"containerPort": 8443},
                               {"name": "http-envoy-prom", "containerPort": 15090}],
                        env={"POD_NAMESPACE": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
                             "ISTIO_META_ROUTER_MODE": "standard", "ISTIO_META_CLUSTER_ID": "Kubernetes"},
                        sc={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "runAsUser": 1337, "runAsGroup": 1337})],
                   sa="istio-ingressgateway-service-account")
    return deploy_obj("istio-ingressgateway", "istio-system", spec, {"app": "istio-ingressgateway", "istio": "ingressgateway"})


def istio_gw_svc(type_="LoadBalancer"):
    return lb("istio-ingressgateway", "istio-system", {"app": "istio-ingressgateway", "istio": "ingressgateway"},
              [svc_port(15021, 15021, "status-port"), svc_port(80, 8080, "http2"), svc_port(443, 8443, "https")],
              type_=type_, labels={"app": "istio-ingressgateway", "istio": "ingressgateway"})


def kubeflow_bits(c, ident):
    c.create(ident, {"kind": "Namespace", "apiVersion": "v1", "metadata": meta("kubeflow", labels={"control-plane": "kubeflow", "istio-injection": "enabled"})},
             query=kapply_q())
    c.tick(3)
    cd = deploy_obj("centraldashboard", "kubeflow", podspec([ctr("centraldashboard", "docker.io/kubeflownotebookswg/centraldashboard:v1.8.0",
                                                                 ports=[{"containerPort": 8082}],
                                                                 env={"USERID_HEADER": "kubeflow-userid", "USERID_PREFIX": "",
                                                                      "REGISTRATION_FLOW": "false"})], sa="centraldashboard"),
                    {"app": "centraldashboard", "app.kubernetes.io/component": "centraldashboard", "app.kubernetes.io/name": "centraldashboard",
                     "kustomize.component": "centraldashboard"})
    apply_create(c, ident, cd)
    c.tick(1.5)
    mp = deploy_obj("ml-pipeline", "kubeflow", podspec([ctr("ml-pipeline-api-server", "gcr.io/ml-pipeline/api-server:2.0.5",
                                                            ports=[{"name": "http", "containerPort": 8888}, {"name": "grpc", "containerPort": 8887}])],
                                                       sa="ml-pipeline"),
                    {"app": "ml-pipeline", "app.kubernetes.io/component": "ml-pipeline", "app.kubernetes.io/name": "kubeflow-pipelines"})
    apply_create(c, ident, mp)


def istio_setup(c):
    """istio installed with helm weeks earlier: the gateway Deployment and its ClusterIP Service."""
    c.create(helm(ALICE), istio_gw_deploy(), query=helm_q())
    c.tick(0.8)
    c.create(helm(ALICE), istio_gw_svc("ClusterIP"), query=helm_q())
    c.tick(86400 * 20 + 3113)


def case_kubeflow():
    cs = Cases("K8S_ExposedKubeflow")

    c = cs.cluster("kubeflow installed, then the istio ingress gateway patched to LoadBalancer")
    istio_setup(c)
    kubeflow_bits(c, ALICE)
    c.tick(3600 * 5)
    cur = c.stored(SVC, "istio-system", "istio-ingressgateway")
    out = copy.deepcopy(cur)
    out["spec"].update({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": True})
    for p, np_ in zip(out["spec"]["ports"], (31021, 31380, 31390)):
        p["nodePort"] = np_
    c.patch(ALICE, SVC, "istio-system", "istio-ingressgateway", {"spec": {"type": "LoadBalancer"}}, result=out)
    c.tick(0.4)
    lb_ready(c, "istio-system", "istio-ingressgateway", "203.0.113.67")
    cs.pos(c, reason=["istio-ingressgateway"])

    c = cs.cluster("istio ingress gateway LoadBalancer first, kubeflow deployed later")
    exposure(c, helm(ALICE), istio_gw_deploy(), istio_gw_svc(), gap=1.0, lb_ip="203.0.113.68")
    c.tick(86400 + 1200)
    kubeflow_bits(c, ALICE)
    cs.pos(c, reason=["istio-ingressgateway"])

    c = cs.cluster("istio ingress gateway LoadBalancer without kubeflow")
    exposure(c, helm(ALICE), istio_gw_deploy(), istio_gw_svc(), gap=1.0, lb_ip="203.0.113.69")
    c.tick(600)
    apply_create(c, ci_ident("shop"), app_deploy("storefront", "shop", "registry.example.com/shop/storefront:4.1.0"))
    cs.neg(c)

    c = cs.cluster("kubeflow reached through kubectl port-forward, gateway stays ClusterIP")
    istio_setup(c)
    kubeflow_bits(c, ALICE)
    c.tick(120)
    pod = f"istio-ingressgateway-{pod_template_hash(c, {'x': 1})[:10]}-{c.suffix()}"
    c.get(ALICE, SVC, "istio-system", "istio-ingressgateway")
    c.tick(0.1)
    c.emit(ALICE, "create", KINDS["Pod"].path("istio-system", pod, "portforward"), objref(KINDS["Pod"], "istio-system", pod, "portforward"),
           code=101, level=RQ, latency=812.4)
    cs.neg(c)

    c = cs.cluster("patch of the gateway refused with 403")
    istio_setup(c)
    kubeflow_bits(c, ALICE)
    c.tick(60)
    c.forbidden(BOB, "patch", SVC, "istio-system", "istio-ingressgateway", level=RR, query="?fieldManager=kubectl-patch")
    cs.neg(c)

    c = cs.cluster("metadata-level patch of the gateway (no body)")
    istio_setup(c)
    kubeflow_bits(c, ALICE)
    c.tick(60)
    c.patch(ALICE, SVC, "istio-system", "istio-ingressgateway", {"spec": {"type": "LoadBalancer"}}, level=MD)
    cs.neg(c)
    return cs


def case_exposed_service():
    cs = Cases("K8S_ExposedService", notes="one alert per exposed (Service, workload) pair")

    c = cs.cluster("docker-in-docker daemon without TLS exposed on 2375")
    spec = podspec([ctr("dind", "docker.io/library/docker:24.0.9-dind", env={"DOCKER_TLS_CERTDIR": ""},
                        args=["--host=tcp://0.0.0.0:2375", "--host=unix:///var/run/docker.sock"],
                        ports=[{"name": "docker", "containerPort": 2375}], sc={"privileged": True},
                        mounts=[("docker-graph", "/var/lib/docker")])], volumes=[empty_vol("docker-graph")])
    exposure(c, ci_ident("ci"), deploy_obj("docker-builder", "ci", spec, {"app": "docker-builder"}),
             lb("docker-builder", "ci", {"app": "docker-builder"}, [(2375, 2375, "docker")]), lb_ip="203.0.113.70")
    cs.pos(c, reason=["docker-builder", "2375"])

    c = cs.cluster("jupyter notebook without token exposed through a LoadBalancer")
    spec = podspec([ctr("notebook", "quay.io/jupyter/scipy-notebook:2024-05-27",
                        command=["start-notebook.py"], args=["--IdentityProvider.token=", "--ServerApp.password="],
                        ports=[{"name": "notebook", "containerPort": 8888}], mounts=[("work", "/home/jovyan/work")])])
    exposure(c, CAROL, statefulset_obj("research-notebook", "analytics", spec, {"app": "research-notebook"},
                                       vct=[pvc_template("work", "20Gi")]),
             lb("research-notebook", "analytics", {"app": "research-notebook"}, [(80, 8888, "http")]))
    cs.pos(c, reason=["research-notebook"])

    c = cs.cluster("argo workflows server with server auth mode exposed")
    spec = podspec([ctr("argo-server", "quay.io/argoproj/argocli:v3.5.8", args=["server", "--auth-mode=server", "--secure=false"],
                        ports=[{"name": "web", "containerPort": 2746}],
                        probes={"readinessProbe": {"httpGet": {"path": "/", "port": 2746}, "initialDelaySeconds": 10, "periodSeconds": 20}})],
                   sa="argo-server")
    exposure(c, helm(ALICE), deploy_obj("argo-server", "argo", spec, {"app": "argo-server"}),
             lb("argo-server", "argo", {"app": "argo-server"}, [(2746, "web", "web")]))
    cs.pos(c, reason=["argo-server"])

    c = cs.cluster("weave scope app exposed on port 80")
    spec = podspec([ctr("app", "docker.io/weaveworks/scope:1.13.2", args=["--mode=app"], ports=[{"containerPort": 4040}])])
    exposure(c, ALICE, deploy_obj("weave-scope-app", "weave", spec, {"app": "weave-scope", "name": "weave-scope-app", "weave-scope-component": "app"}),
             lb("weave-scope-app", "weave", {"app": "weave-scope", "name": "weave-scope-app", "weave-scope-component": "app"}, [(80, 4040, "app")]),
             order="service-first", gap=0.8)
    cs.pos(c, reason=["weave-scope-app"])

    c = cs.cluster("jenkins controller exposed with its agent port")
    spec = podspec([ctr("jenkins", "docker.io/jenkins/jenkins:2.452.2-lts-jdk17",
                        ports=[{"name": "http", "containerPort": 8080}, {"name": "agent-listener", "containerPort": 50000}],
                        env={"JAVA_OPTS": "-Djenkins.install.runSetupWizard=false"}, mounts=[("jenkins-home", "/var/jenkins_home")])],
                   sa="jenkins")
    exposure(c, helm(ALICE), statefulset_obj("jenkins", "ci", spec, {"app.kubernetes.io/name": "jenkins", "app.kubernetes.io/instance": "jenkins"},
                                             vct=[pvc_template("jenkins-home", "50Gi")]),
             lb("jenkins", "ci", {"app.kubernetes.io/name": "jenkins", "app.kubernetes.io/instance": "jenkins"},
                [svc_port(8080, 8080, "http"), svc_port(50000, 50000, "agent-listener")]))
    cs.pos(c, reason=["jenkins"])

    c = cs.cluster("LoadBalancer on 10250 selecting host-network pods (the kubelet API)")
    spec = podspec([ctr("pause", "registry.k8s.io/pause:3.9")], host_network=True, tolerations=[{"operator": "Exists"}])
    exposure(c, ALICE, daemonset_obj("node-anchor", "ops", spec, {"app": "node-anchor"}),
             lb("node-anchor", "ops", {"app": "node-anchor"}, [(10250, 10250, "kubelet")]))
    cs.pos(c, reason=["node-anchor", "10250"], notes="a hostNetwork pod's IP is its node's IP: targetPort 10250 reaches the kubelet")

    c = cs.cluster("nginx LoadBalancer on 80 and 443")
    exposure(c, ci_ident("shop"), app_deploy("web", "shop", "docker.io/library/nginx:1.27.0", port=80),
             lb("web", "shop", {"app": "web"}, [(80, 80, "http"), (443, 443, "https")]), lb_ip="203.0.113.71")
    cs.neg(c)

    c = cs.cluster("generic API on 8080 behind a LoadBalancer")
    exposure(c, ci_ident("shop"), app_deploy("api-gateway", "shop", "registry.example.com/shop/api-gateway:1.4.2", port=8080),
             lb("api-gateway", "shop", {"app": "api-gateway"}, [(443, 8080, "https")]))
    cs.neg(c, notes="port 8080 alone does not make a Jenkins: the workload runs another image")

    c = cs.cluster("jupyter behind ClusterIP")
    spec = podspec([ctr("notebook", "quay.io/jupyter/scipy-notebook:2024-05-27", ports=[{"containerPort": 8888}])])
    exposure(c, CAROL, deploy_obj("notebook", "analytics", spec, {"app": "notebook"}),
             lb("notebook", "analytics", {"app": "notebook"}, [(8888, 8888)], type_="ClusterIP"))
    cs.neg(c)

    c = cs.cluster("LoadBalancer for jupyter refused with 403")
    apply_create(c, CAROL, deploy_obj("notebook", "analytics", spec, {"app": "notebook"}))
    c.tick(30)
    c.forbidden(CAROL, "create", SVC, "analytics", "notebook-lb", level=RR, query=kapply_q())
    cs.neg(c)

    c = cs.cluster("metadata-level LoadBalancer create for jupyter (no body)")
    apply_create(c, CAROL, deploy_obj("notebook", "analytics", spec, {"app": "notebook"}))
    c.tick(30)
    c.create(CAROL, lb("notebook-lb", "analytics", {"app": "notebook"}, [(80, 8888)]), level=MD)
    cs.neg(c)
    return cs


# -- K8S_TI_Proxy ----------------------------------------------------------------------------


def case_ti_proxy():
    cs = Cases("K8S_TI_Proxy",
               notes="run with --intel testdata/audit/intel-test.txt (198.51.100.23 and 203.0.113.0/28 listed as proxy)")
    cs.extra["intel"] = "testdata/audit/intel-test.txt"

    c = cs.cluster("user credentials used from a listed TOR exit (198.51.100.23)")
    c.list(ALICE.but(src=TI_PROXY_IP, ua=KUBECTL), KINDS["Secret"], "payments")
    cs.pos(c, reason=["198.51.100.23"])

    c = cs.cluster("service account token used from an address inside 203.0.113.0/28")
    sa = sa_ident("shop", "storefront", pod="storefront-7d4b9c8f6d-x2kqp", node="k8s-worker-01", src="203.0.113.9", ua=PY_REQUESTS_UA)
    c.list(sa, KINDS["ConfigMap"], "shop")
    cs.pos(c, reason=["203.0.113.9"])

    c = cs.cluster("client address from X-Forwarded-For is listed")
    c.list(ADMIN.but(src=["203.0.113.5", "10.240.0.5"]), KINDS["Pod"], "kube-system")
    cs.pos(c, reason=["203.0.113.5"], notes="sourceIPs: X-Forwarded-For client first, then the connecting proxy")

    c = cs.cluster("connection from the listed exit with a forged X-Forwarded-For")
    c.get(ADMIN.but(src=["192.0.2.99", TI_PROXY_IP]), KINDS["Namespace"], None, "payments")
    cs.pos(c, reason=["198.51.100.23"], notes="the last address is the TCP peer and cannot be forged")

    c = cs.cluster("anonymous request from the listed exit refused with 403")
    c.forbidden(ANON.but(src=TI_PROXY_IP, ua=PY_REQUESTS_UA), "list", KINDS["Namespace"], query="", level=MD)
    cs.pos(c, reason=["198.51.100.23"], notes="refused requests from an anonymising proxy still count")

    c = cs.cluster("neighbouring addresses that are not listed")
    c.list(ALICE.but(src="198.51.100.24"), KINDS["Secret"], "payments")
    c.tick(3)
    c.list(ALICE.but(src="203.0.113.16"), KINDS["Pod"], "shop")
    c.tick(3)
    c.list(ALICE.but(src="203.0.113.200"), KINDS["Pod"], "shop")
    cs.neg(c, notes="203.0.113.16 is the first address after 203.0.113.0/28")

    c = cs.cluster("ordinary users and in-cluster clients")
    c.list(BOB, KINDS["Pod"], "shop")
    c.tick(1)
    c.lease_renew(KCM_IDENT.but(ua=component_ua(KCM, "leader-election")), "kube-system", "kube-controller-manager", "k8s-cp-01_" + stable_uuid("kcm"),
                  query="?timeout=5s")
    c.tick(1)
    c.nonresource(ANON.but(ua=PROBE_UA, src=APISERVER_IP), "/livez")
    cs.neg(c)

    c = cs.cluster("refused request from an unlisted outside address")
    c.forbidden(ANON.but(src="192.0.2.23", ua=PY_REQUESTS_UA), "list", KINDS["Namespace"], query="", level=MD)
    cs.neg(c)

    c = cs.cluster("IPv6 client address that is not listed")
    c.list(ALICE.but(src="2001:db8:4f2a::23"), KINDS["Pod"], "shop")
    cs.neg(c)
    return cs


# -- K8S_PenTestToolsKubeHunter --------------------------------------------------------------


def hunter_passive(c, ident, allowed):
    """kube-hunter's AccessApiServer hunter: /api, namespaces, roles, clusterroles, pods; then /version."""
    seq = [("/api", None, None), ("/api/v1/namespaces", KINDS["Namespace"], None),
           ("/apis/rbac.authorization.k8s.io/v1/roles", ROLE, None), ("/apis/rbac.authorization.k8s.io/v1/clusterroles", CR, None),
           ("/api/v1/pods", KINDS["Pod"], None)]
    for path, k, _ in seq:
        if k is None:
            if allowed:
                c.nonresource(ident, path)
            else:
                c.nonresource(ident, path, code=403)
        elif allowed:
            c.emit(ident, "list", path, objref(k), level=RQ, latency=c.rng.uniform(0.01, 0.06))
        else:
            c.forbidden(ident, "list", k, uri=path)
        c.tick(c.rng.uniform(0.01, 0.05))
    c.nonresource(ident, "/version")
    c.tick(c.rng.uniform(0.05, 0.2))


def case_kube_hunter():
    cs = Cases("K8S_PenTestToolsKubeHunter",
               notes="one scan by one client is one alert, however many requests it makes")

    c = cs.cluster("anonymous kube-hunter sweep from outside the cluster")
    hunter_passive(c, ANON.but(src="198.51.100.77", ua=PY_REQUESTS_UA), allowed=False)
    cs.pos(c, reason=["198.51.100.77"])

    c = cs.cluster("kube-hunter pod with an over-privileged service account, active hunting")
    c.create(BOB.but(authz=ALICE.authz), pod_obj("kube-hunter", "default", podspec([ctr("kube-hunter", "docker.io/aquasec/kube-hunter:0.6.8",
                                                                                   command=["kube-hunter"], args=["--pod", "--active"])]),
                                                 labels={"run": "kube-hunter"}), query="?fieldManager=kubectl-run")
    c.tick(0.05)
    pod = c.stored(KINDS["Pod"], "default", "kube-hunter")
    bind(c, pod, "k8s-worker-02")
    c.tick(3.1)
    pod_running(c, pod, "k8s-worker-02", ip="10.244.2.66")
    c.tick(2.2)
    hunter_passive(c, ANON.but(src="10.244.2.66", ua=PY_REQUESTS_UA), allowed=False)
    sa = sa_ident("default", "default", pod="kube-hunter", node="k8s-worker-02", src="10.244.2.66", ua=PY_REQUESTS_UA,
                  authz=rbac_reason("ClusterRoleBinding", "default-sa-admin", "ClusterRole", "cluster-admin", "ServiceAccount", "default/default"))
    hunter_passive(c, sa, allowed=True)
    # active hunter: namespace, cluster role, then pods and roles in every namespace
    ns = c.hexid(5)
    c.create(sa, {"kind": "Namespace", "apiVersion": "v1", "metadata": meta(ns, labels={"name": ns})}, query="")
    c.tick(0.03)
    c.delete(sa, KINDS["Namespace"], None, ns)
    c.tick(0.03)
    crn = c.hexid(5)
    c.create(sa, role_obj(crn, [rule([""], ["pods"], ["get", "watch", "list"])]), query="")
    c.tick(0.02)
    c.patch(sa, CR, None, crn, [{"op": "add", "path": "/hello", "value": ["world"]}], query="")
    c.tick(0.02)
    c.delete(sa, CR, None, crn)
    for ns in ("default", "shop"):
        for privileged in (True, False):
            pn = c.hexid(5)
            cont = {"name": pn, "image": "nginx:1.7.9", "ports": [{"containerPort": 80}]}
            if privileged:
                cont["securityContext"] = {"privileged": True}
            c.tick(0.04)
            if ns == "shop" and privileged:
                c.refused_create(sa, pod_obj(pn, ns, podspec([cont])),
                                 pss_violation(ns, pn, [f'privileged (container "{pn}" must not set securityContext.privileged=true)']))
                continue
            c.create(sa, pod_obj(pn, ns, podspec([cont])), query="")
            if not privileged:
                c.tick(0.03)
                c.patch(sa, KINDS["Pod"], ns, pn, [{"op": "add", "path": "/hello", "value": ["world"]}], query="")
            c.tick(0.03)
            c.delete(sa, KINDS["Pod"], ns, pn)
        rn = c.hexid(5)
        c.tick(0.03)
        c.create(sa, role_obj(rn, [rule([""], ["pods"], ["get", "watch", "list"])], ns=ns), query="")
        c.tick(0.02)
        c.patch(sa, ROLE, ns, rn, [{"op": "add", "path": "/hello", "value": ["world"]}], query="")
        c.tick(0.02)
        c.delete(sa, ROLE, ns, rn)
    cs.pos(c, reason=["kube-hunter"], notes="one scan (the kube-hunter pod at 10.244.2.66): its creation, anonymous and token sweeps, and "
                                          "five-character objects created and deleted within a second")

    c = cs.cluster("scanner that announces itself in its User-Agent")
    ident = ANON.but(src="198.51.100.78", ua="kube-hunter/0.6.8 (+https://github.com/aquasecurity/kube-hunter)")
    c.nonresource(ident, "/version")
    c.tick(0.2)
    c.nonresource(ident, "/api", code=403)
    cs.pos(c, reason=["198.51.100.78"])

    # negatives
    c = cs.cluster("kubectl get pods by an admin")
    c.nonresource(ADMIN, "/api?timeout=32s")
    c.tick(0.05)
    c.nonresource(ADMIN, "/apis?timeout=32s")
    c.tick(0.05)
    c.list(ADMIN, KINDS["Pod"], "kube-system")
    cs.neg(c)

    c = cs.cluster("kube-state-metrics starting its informers")
    ksm = sa_ident("monitoring", "kube-state-metrics", pod="kube-state-metrics-6d9f8c7b5-h4k2m", node="k8s-worker-03", src="10.244.3.12",
                   ua="v2.12.0/kube-state-metrics (linux/amd64) kubernetes/a51b3b7",
                   authz=rbac_reason("ClusterRoleBinding", "kube-state-metrics", "ClusterRole", "kube-state-metrics", "ServiceAccount",
                                     "kube-state-metrics/monitoring"))
    c.nonresource(ksm, "/version")
    for k in ("Pod", "Node", "Namespace", "Secret", "ConfigMap", "Service", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet",
              "Job", "CronJob", "PersistentVolumeClaim", "Endpoints", "Ingress", "NetworkPolicy", "PodDisruptionBudget",
              "HorizontalPodAutoscaler", "Lease"):
        c.tick(c.rng.uniform(0.002, 0.02))
        c.list(ksm, KINDS[k], query="?limit=500&resourceVersion=0")
    cs.neg(c)

    c = cs.cluster("kubectl api-resources with per-group discovery (older kubectl)")
    old = ALICE.but(ua=OLD_KUBECTL)
    c.nonresource(old, "/api?timeout=32s")
    c.nonresource(old, "/apis?timeout=32s")
    for g in ("apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "policy/v1", "coordination.k8s.io/v1",
              "discovery.k8s.io/v1", "events.k8s.io/v1", "autoscaling/v2", "storage.k8s.io/v1", "admissionregistration.k8s.io/v1",
              "apiextensions.k8s.io/v1", "scheduling.k8s.io/v1", "node.k8s.io/v1", "certificates.k8s.io/v1", "crd.projectcalico.org/v1"):
        c.tick(c.rng.uniform(0.001, 0.006))
        c.nonresource(old, f"/apis/{g}?timeout=32s")
    c.nonresource(old, "/api/v1?timeout=32s")
    cs.neg(c)

    c = cs.cluster("python application reading its configmap")
    app = sa_ident("analytics", "report-worker", pod="report-worker-5b7c9d6f4-z8k2p", node="k8s-worker-03", src="10.244.3.19", ua=PY_REQUESTS_UA)
    c.get(app, KINDS["ConfigMap"], "analytics", "report-worker")
    cs.neg(c)

    c = cs.cluster("kubectl run --rm: a short-lived debug pod from CI")
    ci = ci_ident("shop")
    c.create(ci, pod_obj("smoke-test", "shop", podspec([ctr("smoke-test", "docker.io/curlimages/curl:8.8.0",
                                                           command=["curl", "-fsS", "http://storefront.shop.svc/healthz"],
                                                           sc={"allowPrivilegeEscalation": False, "runAsNonRoot": True})], restart="Never"),
                         labels={"run": "smoke-test"}), query="?fieldManager=kubectl-run")
    c.tick(0.04)
    bind(c, c.stored(KINDS["Pod"], "shop", "smoke-test"), "k8s-worker-01")
    c.watch(ci, KINDS["Pod"], "shop", selector="fieldSelector=metadata.name%3Dsmoke-test", duration=2.6, start=c.now, advance=True)
    c.tick(0.05)
    c.emit(ci, "create", KINDS["Pod"].path("shop", "smoke-test", "attach") + "?container=smoke-test&stderr=true&stdout=true",
           objref(KINDS["Pod"], "shop", "smoke-test", "attach"), code=101, level=RQ, latency=1.9)
    c.tick(0.1)
    c.delete(ci, KINDS["Pod"], "shop", "smoke-test")
    cs.neg(c)
    return cs


# -- Service-account behaviour ---------------------------------------------------------------


def app_pod(c: Cluster, ns, deploy, sa_name, node, image, ip=None):
    """An application pod created by its ReplicaSet and running: returns (pod name, pod IP)."""
    dep = c.seed(app_deploy(deploy, ns, image, sa=sa_name), age_days=3)
    rs = c.seed(rs_from_deployment(c, dep), manager=KCM, age_days=3)
    pod = controller_pods(c, rs, RS_CTRL, [node], events=False)[0]
    name = pod["metadata"]["name"]
    return name, c.pod_ips[(ns, name)]


def storefront_sa(c, ua=None, authz=None, node="k8s-worker-01"):
    pod, ip = app_pod(c, "shop", "storefront", "storefront", node, "registry.example.com/shop/storefront:4.1.0")
    return sa_ident("shop", "storefront", pod=pod, node=node, src=ip, ua=ua or CLIENT_GO_APP.format("storefront"),
                    authz=authz or rbac_reason("RoleBinding", "storefront/shop", "Role", "storefront", "ServiceAccount", "storefront/shop")), pod


STOREFRONT_ADMIN = rbac_reason("ClusterRoleBinding", "storefront-ops", "ClusterRole", "cluster-admin", "ServiceAccount", "storefront/shop")


def storefront_routine(c, sa, n=3):
    for _ in range(n):
        c.get(sa, KINDS["ConfigMap"], "shop", "storefront-config")
        c.tick(c.rng.uniform(0.5, 3))
        c.get(sa, KINDS["Secret"], "shop", "storefront-db")
        c.tick(c.rng.uniform(20, 60))


def case_suspicious_sa():
    cs = Cases("K8S_SuspiciousServiceAccountOperation")

    c = cs.cluster("curl in an app pod lists secrets cluster-wide with the pod's token (refused)")
    sa, pod = storefront_sa(c)
    storefront_routine(c, sa)
    c.forbidden(sa.but(ua=CURL_UA), "list", KINDS["Secret"], uri="/api/v1/secrets")
    cs.pos(c, reason=["storefront", "secrets"], notes="the attempt is the signal: a 403 counts")

    c = cs.cluster("kubectl in an app pod lists pods in all namespaces")
    sa, pod = storefront_sa(c, authz=STOREFRONT_ADMIN)
    storefront_routine(c, sa, 2)
    c.list(sa.but(ua=KUBECTL), KINDS["Pod"])
    cs.pos(c, reason=["storefront", "pods"])

    c = cs.cluster("python in a notebook pod lists cluster role bindings")
    pod, ip = app_pod(c, "analytics", "notebook", "notebook", "k8s-worker-03", "quay.io/jupyter/scipy-notebook:2024-05-27")
    sa = sa_ident("analytics", "notebook", pod=pod, node="k8s-worker-03", src=ip, ua=PY_REQUESTS_UA,
                  authz=rbac_reason("ClusterRoleBinding", "notebook-view-all", "ClusterRole", "view", "ServiceAccount", "notebook/analytics"))
    c.tick(600)
    c.forbidden(sa, "list", CRB, uri="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
    cs.pos(c, reason=["notebook", "clusterrolebindings"])

    c = cs.cluster("app token used to exec into a pod of another namespace")
    sa, pod = storefront_sa(c, authz=STOREFRONT_ADMIN)
    storefront_routine(c, sa, 2)
    c.exec_(sa.but(ua=OLD_KUBECTL), "payments", "payments-api-5c8d7f9b6-r7t2x", "api", ["sh", "-c", "env"], tty=False, stdin=False)
    cs.pos(c, reason=["storefront", "exec"])

    # negatives
    c = cs.cluster("the app reading its own configmap and secret")
    sa, pod = storefront_sa(c)
    storefront_routine(c, sa, 5)
    c.get(sa, KINDS["ConfigMap"], "shop", "storefront-flags", code=404)
    cs.neg(c)

    c = cs.cluster("controllers and the scheduler listing pods cluster-wide")
    c.list(KCM_IDENT, KINDS["Pod"], query="?limit=500&resourceVersion=0")
    c.tick(0.01)
    c.watch(KCM_IDENT, KINDS["Pod"], duration=431, start=c.now, advance=True)
    c.list(SCHED_IDENT.but(ua=component_ua("kube-scheduler")), KINDS["Pod"],
           query="?fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed&limit=500&resourceVersion=0")
    c.list(controller("generic-garbage-collector"), KINDS["Secret"], query="?limit=500&resourceVersion=0")
    cs.neg(c)

    c = cs.cluster("metrics-server in its pod listing pods and nodes")
    pod, ip = app_pod(c, "kube-system", "metrics-server", "metrics-server", "k8s-worker-03", "registry.k8s.io/metrics-server/metrics-server:v0.7.1")
    ms = sa_ident("kube-system", "metrics-server", pod=pod, node="k8s-worker-03", src=ip,
                  ua="metrics-server/v0.7.1 (linux/amd64) kubernetes/4d1ee9e",
                  authz=rbac_reason("ClusterRoleBinding", "system:metrics-server", "ClusterRole", "system:metrics-server", "ServiceAccount",
                                    "metrics-server/kube-system"))
    c.list(ms, KINDS["Node"], query="?limit=500&resourceVersion=0")
    c.list(ms, KINDS["Pod"], query="?limit=500&resourceVersion=0")
    c.watch(ms, KINDS["Pod"], duration=318, start=c.now, advance=True)
    cs.neg(c)

    c = cs.cluster("CI runner deploying with kubectl into its target namespace")
    ci = ci_ident("shop")
    apply_create(c, ci, app_deploy("storefront", "shop", "registry.example.com/shop/storefront:4.2.0"))
    c.tick(0.3)
    c.watch(ci, KINDS["Deployment"], "shop", selector="fieldSelector=metadata.name%3Dstorefront", duration=24, start=c.now, advance=True)
    c.list(ci, KINDS["Pod"], "shop", query="?labelSelector=app%3Dstorefront&limit=500")
    cs.neg(c)

    c = cs.cluster("the app's 404 on a configmap it expects")
    sa, pod = storefront_sa(c)
    c.get(sa, KINDS["ConfigMap"], "shop", "storefront-overrides", code=404)
    cs.neg(c)
    return cs


def routine_round(c, sa, ns, cm, lease):
    c.get(sa, KINDS["ConfigMap"], ns, cm)
    c.tick(c.rng.uniform(0.05, 0.4))
    c.list(sa, KINDS["ConfigMap"], ns, query="?labelSelector=app%3Dinventory-sync&limit=500")
    c.tick(c.rng.uniform(0.01, 0.1))
    c.watch(sa, KINDS["ConfigMap"], ns, selector="labelSelector=app%3Dinventory-sync", duration=c.rng.uniform(300, 590),
            start=c.now, advance=True)
    c.tick(c.rng.uniform(0.2, 2))
    c.get(sa, KINDS["Lease"], ns, lease)
    c.tick(0.01)
    c.lease_renew(sa, ns, lease, sa.extra["authentication.kubernetes.io/pod-name"][0], query="")


def baseline(c, days, every_h, fn):
    """Run `fn` once every `every_h` hours for `days` days (jittered)."""
    t0 = c.now
    n = int(days * 24 / every_h)
    for i in range(n):
        c.at(max(c.now, t0 + sec(i * every_h * 3600 + c.rng.uniform(0, 900))))
        fn(i)
    return c


def inventory_sa(c, jti_round=0):
    return sa_ident("shop", "inventory-sync", pod="inventory-sync-6f8d9c7b5-k2x9w", node="k8s-worker-01", src="10.244.1.37",
                    jti=stable_uuid("inv-jti", jti_round),
                    authz=rbac_reason("ClusterRoleBinding", "inventory-sync", "ClusterRole", "inventory-sync", "ServiceAccount",
                                      "inventory-sync/shop"))


def case_rare_op():
    cs = Cases("K8S_ServiceAccountRareOperation",
               notes="baselines are sampled: one round of the account's routine calls every 4 hours of event time")
    start = utc(2025, 3, 1, 6, 0, 0)

    def learned(c, days=9.0):
        baseline(c, days, 4, lambda i: routine_round(c, inventory_sa(c, i // 6), "shop", "inventory-sync", "inventory-sync-leader"))

    c = cs.cluster("after 9 days of configmap/lease routine, lists secrets cluster-wide", start)
    learned(c)
    c.tick(1800)
    c.list(inventory_sa(c, 99).but(ua=KUBECTL), KINDS["Secret"])
    cs.pos(c, reason=["inventory-sync", "secrets"])

    c = cs.cluster("after 9 days of routine, execs into a pod three times", start)
    learned(c)
    c.tick(3600)
    sa = inventory_sa(c, 98).but(ua=OLD_KUBECTL)
    for cmd in (["id"], ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"], ["sh", "-c", "env | grep -i pass"]):
        c.exec_(sa, "payments", "payments-api-5c8d7f9b6-r7t2x", "api", cmd, tty=False, stdin=False)
        c.tick(c.rng.uniform(5, 40))
    cs.pos(c, reason=["inventory-sync", "exec"], notes="the first exec is new; the repeats are the same operation")

    c = cs.cluster("same routine operations after learning", start)
    learned(c, 10.0)
    cs.neg(c)

    c = cs.cluster("a new operation during the learning period is learned", start)
    baseline(c, 3, 4, lambda i: routine_round(c, inventory_sa(c, i // 6), "shop", "inventory-sync", "inventory-sync-leader"))
    c.list(inventory_sa(c, 50), KINDS["Secret"], "shop")
    c.tick(600)
    baseline(c, 6.5, 4, lambda i: routine_round(c, inventory_sa(c, 60 + i // 6), "shop", "inventory-sync", "inventory-sync-leader"))
    c.list(inventory_sa(c, 90), KINDS["Secret"], "shop")
    cs.neg(c, notes="list secrets in shop first appears on day 3, inside the 7-day learning period")

    c = cs.cluster("a new operation refused with 403 after learning", start)
    learned(c)
    c.forbidden(inventory_sa(c, 97), "list", KINDS["Secret"], uri="/api/v1/secrets?limit=500")
    cs.neg(c, notes="refused requests are not part of the account's behaviour (see K8S_SuspiciousServiceAccountOperation)")

    c = cs.cluster("a brand-new service account's first operations", start + dt.timedelta(days=9))
    new = sa_ident("shop", "price-importer", pod="price-importer-28466710-q8x2v", node="k8s-worker-02", src="10.244.2.54",
                   ua=CLIENT_GO_APP.format("price-importer"))
    c.get(new, KINDS["ConfigMap"], "shop", "price-importer")
    c.tick(2)
    c.list(new, KINDS["Secret"], "shop")
    cs.neg(c)
    return cs


def case_container_discovery():
    cs = Cases("K8S_ContainerDiscovery")
    start = utc(2025, 3, 1, 7, 30, 0)

    def sf_routine(c, sa):
        def fn(i):
            c.get(sa, KINDS["ConfigMap"], "shop", "storefront-config")
            c.tick(c.rng.uniform(0.5, 2))
            c.get(sa, KINDS["Secret"], "shop", "storefront-db")
        baseline(c, 9, 4, fn)

    c = cs.cluster("after 9 days of routine, an app account lists pods in all namespaces", start)
    sa = sa_ident("shop", "storefront", pod="storefront-7d4b9c8f6d-x2kqp", node="k8s-worker-01", src="10.244.1.23", authz=STOREFRONT_ADMIN)
    sf_routine(c, sa)
    c.tick(1200)
    c.list(sa.but(ua=KUBECTL), KINDS["Pod"])
    cs.pos(c, reason=["storefront"])

    c = cs.cluster("after 9 days of routine, an app account watches pods cluster-wide", start)
    sf_routine(c, sa)
    c.tick(1200)
    c.watch(sa.but(ua=PY_K8S_UA), KINDS["Pod"], duration=61.5, start=c.now, advance=True)
    cs.pos(c, reason=["storefront"])

    c = cs.cluster("kubelet-style enumeration through the node proxy", start)
    sf_routine(c, sa)
    c.tick(900)
    for node in ("k8s-worker-01", "k8s-worker-02"):
        for path in ("pods", "runningpods/"):
            c.emit(sa.but(ua=CURL_UA), "get", f"/api/v1/nodes/{node}/proxy/{path}", objref(KINDS["Node"], None, node, "proxy"),
                   level=RQ, latency=c.rng.uniform(0.02, 0.2))
            c.tick(c.rng.uniform(0.3, 2))
    cs.pos(c, reason=["storefront"], notes="GET nodes/<node>/proxy/pods and /runningpods/ read the kubelet's pod list")

    c = cs.cluster("kubernetes dashboard opened through the API server service proxy", start)

    def bob_routine(i):
        c.list(BOB, KINDS["Pod"], "shop")
        c.tick(c.rng.uniform(2, 30))
        c.get(BOB, KINDS["Deployment"], "shop", "storefront")
    baseline(c, 9, 8, bob_routine)
    c.tick(3000)
    proxy = "/api/v1/namespaces/kubernetes-dashboard/services/https:kubernetes-dashboard:/proxy/"
    for sub in ("", "api/v1/login/status", "api/v1/csrftoken/login", "api/v1/pod/_all?itemsPerPage=10&page=1&sortBy=d,creationTimestamp"):
        c.emit(BOB.but(ua="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36"),
               "get", proxy + sub, objref(SVC, "kubernetes-dashboard", "https:kubernetes-dashboard:", "proxy"), level=RQ,
               latency=c.rng.uniform(0.03, 0.3))
        c.tick(c.rng.uniform(0.1, 1.2))
    cs.pos(c, reason=["bob@example.com", "kubernetes-dashboard"], notes="a page load is several proxied requests: one alert")

    # negatives
    c = cs.cluster("kube-scheduler and controllers listing and watching pods", start)

    def sys_routine(i):
        c.list(SCHED_IDENT.but(ua=component_ua("kube-scheduler")), KINDS["Pod"],
               query="?fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed&limit=500&resourceVersion=0")
        c.watch(SCHED_IDENT.but(ua=component_ua("kube-scheduler")), KINDS["Pod"],
                selector="fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed", start=c.now, advance=True)
        c.list(KCM_IDENT, KINDS["Pod"], query="?limit=500&resourceVersion=0")
        c.watch(KCM_IDENT, KINDS["Pod"], start=c.now, advance=True)
    baseline(c, 9, 6, sys_routine)
    cs.neg(c)

    c = cs.cluster("prometheus that has listed pods since it was installed", start)
    prom = sa_ident("monitoring", "prometheus-k8s", pod="prometheus-k8s-0", node="k8s-worker-03", src="10.244.3.5",
                    ua="Prometheus/2.53.0", authz=rbac_reason("ClusterRoleBinding", "prometheus-k8s", "ClusterRole", "prometheus-k8s",
                                                               "ServiceAccount", "prometheus-k8s/monitoring"))

    def prom_routine(i):
        c.list(prom, KINDS["Pod"], query="?limit=500&resourceVersion=0")
        c.watch(prom, KINDS["Pod"], start=c.now, advance=True)
        c.list(prom, KINDS["Endpoints"], query="?limit=500&resourceVersion=0")
    baseline(c, 10, 6, prom_routine)
    cs.neg(c)

    c = cs.cluster("cluster-wide pod list refused with 403 after a baseline", start)
    sf_routine(c, sa.but(authz=rbac_reason("RoleBinding", "storefront/shop", "Role", "storefront", "ServiceAccount", "storefront/shop")))
    c.forbidden(sa.but(ua=KUBECTL), "list", KINDS["Pod"], query="?limit=500")
    cs.neg(c, notes="nothing was enumerated; the attempt is K8S_SuspiciousServiceAccountOperation's business")

    c = cs.cluster("developer listing pods in their namespace, as every day", start)
    baseline(c, 9, 8, bob_routine)
    c.list(BOB, KINDS["Pod"], "shop")
    cs.neg(c)
    return cs


def case_excessive():
    cs = Cases("K8S_ExcessiveApiRequests", notes="one alert per burst")

    def sf(c):
        return sa_ident("shop", "storefront", pod="storefront-7d4b9c8f6d-x2kqp", node="k8s-worker-01", src="10.244.1.23", authz=STOREFRONT_ADMIN)

    def norm(c, sa, minutes):
        for _ in range(minutes):
            c.get(sa, KINDS["ConfigMap"], "shop", "storefront-config")
            c.tick(c.rng.uniform(10, 20))
            c.get(sa, KINDS["Secret"], "shop", "storefront-db")
            c.tick(c.rng.uniform(10, 20))
            c.list(sa, KINDS["Endpoints"], "shop", query="?labelSelector=app%3Dinventory&limit=500")
            c.tick(c.rng.uniform(10, 20))

    c = cs.cluster("service account fetching secrets one by one, ~450 requests in under a minute")
    sa = sf(c)
    norm(c, sa, 30)
    fast = sa.but(ua=PY_REQUESTS_UA)
    nss = ["shop", "payments", "analytics", "ci", "monitoring", "kube-system", "default", "ops", "argo", "cert-manager"]
    t_end = c.now + sec(52)
    for i in range(450):
        ns = nss[i % len(nss)]
        nm = f"{c.rng.choice(['db', 'api', 'tls', 'registry', 'token', 'oauth', 'smtp', 's3'])}-{c.suffix(4)}"
        if i % 7 == 0:
            c.get(fast, KINDS["Secret"], ns, nm, code=404)
        else:
            c.get(fast, KINDS["Secret"], ns, nm)
        c.tick(52.0 / 450)
    cs.pos(c, reason=["storefront"])

    c = cs.cluster("service account hammering the pods and exec endpoints, ~600 requests in a minute")
    sa = sf(c)
    norm(c, sa, 20)
    fast = sa.but(ua="Go-http-client/2.0")
    for i in range(600):
        if i % 3 == 0:
            c.list(fast, KINDS["Pod"], nss[i % len(nss)], query="?limit=500")
        else:
            c.get(fast, KINDS["Pod"], nss[i % len(nss)], f"web-{c.suffix(10)}-{c.suffix()}", code=404)
        c.tick(58.0 / 600)
    cs.pos(c, reason=["storefront"])

    # negatives
    c = cs.cluster("endpointslice controller at its steady rate for 15 minutes")
    ctl = EPS_CTRL
    for i in range(15 * 40):
        ns = c.rng.choice(["shop", "payments", "analytics", "kube-system"])
        if i % 4 == 0:
            c.get(ctl, KINDS["EndpointSlice"], ns, f"storefront-{c.suffix()}")
        else:
            es = f"storefront-{c.suffix()}"
            c.emit(ctl, "update", KINDS["EndpointSlice"].path(ns, es), objref(KINDS["EndpointSlice"], ns, es), level=MD)
        c.tick(1.5)
    cs.neg(c, notes="40 requests a minute, every minute")

    c = cs.cluster("the application's normal rate for an hour")
    norm(c, sf(c), 60)
    cs.neg(c)

    c = cs.cluster("CI applying a large manifest: 70 requests in 20 seconds")
    ci = ci_ident("shop")
    for i in range(35):
        nm = f"storefront-cfg-{i:02d}"
        c.get(ci, KINDS["ConfigMap"], "shop", nm, code=404)
        c.tick(0.1)
        c.create(ci, kubectl_apply_ann(configmap_obj(nm, "shop", {"key": f"value-{i}"})), query=kapply_q())
        c.tick(0.45)
    cs.neg(c)

    c = cs.cluster("kubelet restarting pods after a node reboot")
    kl = kubelet("k8s-worker-02")
    for i in range(90):
        pn = f"storefront-7d4b9c8f6d-{c.suffix()}"
        c.emit(kl, "patch", KINDS["Pod"].path("shop", pn, "status"), objref(KINDS["Pod"], "shop", pn, "status"), level=RQ,
               req={"metadata": {"uid": stable_uuid("pod", "shop", pn)}, "status": {"phase": "Running"}})
        c.tick(0.66)
    cs.neg(c, notes="node identities are not service accounts")
    return cs


# -- K8S_AbnormalMiActivity (Azure Activity Log, AWS CloudTrail) ------------------------------

AZ_TENANT = stable_uuid("az-tenant")
AZ_SUB = stable_uuid("az-subscription")
AZ_RG = "rg-prod"
AZ_NODE_RG = "MC_rg-prod_aks-prod-eus-1_eastus"
AWS_ACCOUNT = "111122223333"
AWS_OIDC = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def az_ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z"


class AzureMI:
    def __init__(self, name, rg=AZ_NODE_RG):
        self.name = name
        self.object_id = stable_uuid("mi-oid", name)
        self.client_id = stable_uuid("mi-appid", name)
        self.mirid = f"/subscriptions/{AZ_SUB}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"


class AzureUser:
    def __init__(self, upn):
        self.name = upn
        self.object_id = stable_uuid("user-oid", upn)


def az_record(c: Cluster, who, op, resource_id, *, result="Success", status="OK", ip=IP_CLUSTER_EGRESS, correlation=None,
              duration_ms=None, role="Contributor", scope=None, vmss=None, props=None):
    t = c.now
    iat = int(t.timestamp()) - c.rng.randint(60, 3000)
    if isinstance(who, AzureMI):
        claims = {"aud": "https://management.azure.com/", "iss": f"https://sts.windows.net/{AZ_TENANT}/", "iat": str(iat),
                  "nbf": str(iat), "exp": str(iat + 86399), "aio": "E2NgYJi" + c.hexid(40), "appid": who.client_id, "appidacr": "2",
                  "http://schemas.microsoft.com/identity/claims/identityprovider": f"https://sts.windows.net/{AZ_TENANT}/",
                  "idtyp": "app",
                  "http://schemas.microsoft.com/identity/claims/objectidentifier": who.object_id,
                  "rh": "0.AXkA" + c.hexid(48), "http://schemas.microsoft.com/identity/claims/tenantid": AZ_TENANT,
                  "uti": c.hexid(22), "ver": "1.0", "xms_mirid": who.mirid, "xms_tcdt": "1600770165"}
        if vmss:
            claims["xms_az_rid"] = f"/subscriptions/{AZ_SUB}/resourcegroups/{AZ_NODE_RG}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}"
        ptype = "ServicePrincipal"
        caller = who.object_id
    else:
        claims = {"aud": "https://management.core.windows.net/", "iss": f"https://sts.windows.net/{AZ_TENANT}/", "iat": str(iat),
                  "nbf": str(iat), "exp": str(iat + 4500), "http://schemas.microsoft.com/claims/authnclassreference": "1",
                  "aio": "AWQAm/8" + c.hexid(40), "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa",
                  "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "appidacr": "0",
                  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": who.name.split("@")[0].capitalize(),
                  "idtyp": "user", "ipaddr": ip, "name": who.name.split("@")[0].capitalize(),
                  "http://schemas.microsoft.com/identity/claims/objectidentifier": who.object_id,
                  "http://schemas.microsoft.com/identity/claims/tenantid": AZ_TENANT,
                  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": who.name,
                  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": who.name, "uti": c.hexid(22), "ver": "1.0"}
        ptype = "User"
        caller = who.name
    rid = resource_id
    rec = {"time": az_ts(t), "resourceId": rid.upper(), "operationName": op.upper(), "category": "Administrative",
           "resultType": result,
           "resultSignature": {"Start": "Started.", "Accept": "Accepted.Accepted", "Failure": f"Failed.{status}"}.get(result, f"Succeeded.{status}"),
           "durationMs": str(0 if result == "Start" else (duration_ms or c.rng.randint(180, 4800))),
           "callerIpAddress": ip, "caller": caller, "correlationId": correlation or c.uuid(),
           "identity": {"authorization": {"scope": rid, "action": op,
                                          "evidence": {"role": role, "roleAssignmentScope": scope or f"/subscriptions/{AZ_SUB}/resourceGroups/{AZ_NODE_RG}",
                                                       "roleAssignmentId": stable_uuid("ra", who.name, role).replace("-", ""),
                                                       "roleDefinitionId": {"Contributor": "b24988ac618042a0ab8820f7382dd24c",
                                                                            "Owner": "8e3af657a8ff443ca75c2fe8c4bcb635",
                                                                            "Virtual Machine Contributor": "9980e02c5c2c4c7a86d13b2f1c6a4e8d"}.get(role, "acdd72a7338548efbd42f606fffbb4b3"),
                                                       "principalId": who.object_id.replace("-", ""), "principalType": ptype}},
                        "claims": claims},
           "level": "Information", "location": "global"}
    p = {"eventCategory": "Administrative", "entity": rid, "message": op, "hierarchy": f"{AZ_TENANT}/{AZ_SUB}"}
    if result != "Start":
        p = {"statusCode": {"OK": "OK", "Created": "Created", "Accepted": "Accepted"}.get(status, status),
             "serviceRequestId": c.uuid(), **p}
    if props:
        p.update(props)
    rec["properties"] = p
    if c.collect:
        c.events.append(rec)
    return rec


def az_write(c, who, op, rid, *, status="OK", ip=IP_CLUSTER_EGRESS, accept=False, **kw):
    corr = c.uuid()
    az_record(c, who, op, rid, result="Start", ip=ip, correlation=corr, **kw)
    c.tick(c.rng.uniform(0.3, 4.0))
    if accept:
        az_record(c, who, op, rid, result="Accept", status="Accepted", ip=ip, correlation=corr, **kw)
        c.tick(c.rng.uniform(8, 40))
    az_record(c, who, op, rid, result="Success", status=status, ip=ip, correlation=corr, **kw)


def az_rid(provider_path, rg=AZ_NODE_RG):
    return f"/subscriptions/{AZ_SUB}/resourceGroups/{rg}/providers/{provider_path}"


KUBELET_MI = AzureMI("aks-prod-eus-1-agentpool")
VMSS = "aks-nodepool1-31415926-vmss"


def mi_routine(c, i):
    """The kubelet identity's routine: disks and attachments for PVCs, LB/public IP for Services."""
    r = i % 3   # every kind of routine operation shows up in the first day
    pvc = f"pvc-{stable_uuid('pvc', i)}"
    if r == 0:
        az_write(c, KUBELET_MI, "Microsoft.Compute/disks/write", az_rid(f"Microsoft.Compute/disks/{pvc}"), status="Created", vmss=VMSS)
        c.tick(c.rng.uniform(5, 30))
        az_write(c, KUBELET_MI, "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write",
                 az_rid(f"Microsoft.Compute/virtualMachineScaleSets/{VMSS}/virtualMachines/{c.rng.randint(0, 5)}"), accept=True, vmss=VMSS)
    elif r == 1:
        az_write(c, KUBELET_MI, "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write",
                 az_rid(f"Microsoft.Compute/virtualMachineScaleSets/{VMSS}/virtualMachines/{c.rng.randint(0, 5)}"), accept=True, vmss=VMSS)
        c.tick(c.rng.uniform(5, 30))
        az_write(c, KUBELET_MI, "Microsoft.Compute/disks/delete", az_rid(f"Microsoft.Compute/disks/{pvc}"), status="OK", vmss=VMSS)
    else:
        az_write(c, KUBELET_MI, "Microsoft.Network/publicIPAddresses/write",
                 az_rid(f"Microsoft.Network/publicIPAddresses/kubernetes-a{c.hexid(31)}"), status="Created", vmss=VMSS)
        c.tick(c.rng.uniform(2, 10))
        az_write(c, KUBELET_MI, "Microsoft.Network/loadBalancers/write", az_rid("Microsoft.Network/loadBalancers/kubernetes"), vmss=VMSS)
        c.tick(c.rng.uniform(1, 5))
        az_write(c, KUBELET_MI, "Microsoft.Network/networkSecurityGroups/write",
                 az_rid("Microsoft.Network/networkSecurityGroups/aks-agentpool-31415926-nsg"), vmss=VMSS)


class AwsRole:
    def __init__(self, name):
        self.name = name
        self.role_id = "AROA" + hashlib.sha1(name.encode()).hexdigest()[:17].upper()


EBS_ROLE = AwsRole("AmazonEKS_EBS_CSI_DriverRole")


def ct_record(c, role: AwsRole, source, name, params, response=None, *, ip="203.0.113.41", ua=None, error=None, read_only=False,
              session="1741600331872455210"):
    rec = {"eventVersion": "1.09",
           "userIdentity": {"type": "AssumedRole", "principalId": f"{role.role_id}:{session}",
                            "arn": f"arn:aws:sts::{AWS_ACCOUNT}:assumed-role/{role.name}/{session}",
                            "accountId": AWS_ACCOUNT, "accessKeyId": "ASIA" + hashlib.sha1(session.encode()).hexdigest()[:16].upper(),
                            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": role.role_id,
                                                                 "arn": f"arn:aws:iam::{AWS_ACCOUNT}:role/{role.name}",
                                                                 "accountId": AWS_ACCOUNT, "userName": role.name},
                                               "webIdFederationData": {"federatedProvider": f"arn:aws:iam::{AWS_ACCOUNT}:oidc-provider/{AWS_OIDC}",
                                                                       "attributes": {}},
                                               "attributes": {"creationDate": ts_s(c.now - sec(1200)), "mfaAuthenticated": "false"}}},
           "eventTime": ts_s(c.now), "eventSource": source, "eventName": name, "awsRegion": "us-west-2",
           "sourceIPAddress": ip,
           "userAgent": ua or "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.173.0 ebs-csi-driver/v1.31.0"}
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = params
    rec["responseElements"] = response
    rec.update({"requestID": c.uuid(), "eventID": c.uuid(), "readOnly": read_only, "eventType": "AwsApiCall",
                "managementEvent": True, "recipientAccountId": AWS_ACCOUNT, "eventCategory": "Management",
                "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                               "clientProvidedHostHeader": f"{source.split('.')[0]}.us-west-2.amazonaws.com"}})
    if c.collect:
        c.events.append(rec)
    return rec


def ebs_routine(c, i):
    vol = "vol-0" + hashlib.sha1(f"vol{i}".encode()).hexdigest()[:16]
    inst = "i-0" + hashlib.sha1(f"inst{i % 4}".encode()).hexdigest()[:16]
    ct_record(c, EBS_ROLE, "ec2.amazonaws.com", "CreateVolume",
              {"availabilityZone": "us-west-2a", "size": 20, "volumeType": "gp3", "encrypted": True,
               "tagSpecificationSet": {"items": [{"resourceType": "volume", "tags": [
                   {"key": "CSIVolumeName", "value": f"pvc-{stable_uuid('ebs', i)}"},
                   {"key": "ebs.csi.aws.com/cluster", "value": "true"},
                   {"key": "kubernetes.io/created-for/pvc/namespace", "value": "shop"}]}]},
               "clientToken": hashlib.sha256(f"ct{i}".encode()).hexdigest()},
              {"requestId": c.uuid(), "volumeId": vol, "size": 20, "availabilityZone": "us-west-2a", "status": "creating",
               "createTime": int(c.now.timestamp() * 1000), "volumeType": "gp3", "encrypted": True, "iops": 3000, "throughput": 125})
    c.tick(c.rng.uniform(1, 3))
    ct_record(c, EBS_ROLE, "ec2.amazonaws.com", "DescribeVolumes", {"volumeSet": {"items": [{"volumeId": vol}]}}, None, read_only=True)
    c.tick(c.rng.uniform(3, 20))
    ct_record(c, EBS_ROLE, "ec2.amazonaws.com", "AttachVolume", {"volumeId": vol, "instanceId": inst, "device": "/dev/xvdaa"},
              {"requestId": c.uuid(), "volumeId": vol, "instanceId": inst, "device": "/dev/xvdaa", "status": "attaching",
               "attachTime": int(c.now.timestamp() * 1000), "deleteOnTermination": False})


def case_abnormal_mi():
    cs = Cases("K8S_AbnormalMiActivity",
               notes="events are cloud control-plane records (Azure Activity Log export schema, AWS CloudTrail), not audit Events. "
                     "Activity Log records carry operationName and resourceId upper-cased (as exported) and the same in mixed case under "
                     "identity.authorization.action/scope and properties.message; compare case-insensitively. Reads (.../read) are not "
                     "written to the Activity Log, so the baselines consist of writes and actions. Each ARM write is a Start record "
                     "followed by Success (and Accept for asynchronous operations) with the same correlationId: one operation.")
    start = utc(2025, 3, 1, 0, 20, 0)

    def azure_learned(c, days=9.0):
        baseline(c, days, 12, lambda i: mi_routine(c, i))

    c = cs.cluster("kubelet identity assigns a role at subscription scope after 9 days of disk and load balancer work", start)
    azure_learned(c)
    c.tick(4000)
    ra = f"/subscriptions/{AZ_SUB}/providers/Microsoft.Authorization/roleAssignments/{c.uuid()}"
    az_write(c, KUBELET_MI, "Microsoft.Authorization/roleAssignments/write", ra, status="Created", ip="198.51.100.140",
             role="Owner", scope=f"/subscriptions/{AZ_SUB}",
             props={"requestbody": jdump({"Id": ra.rsplit("/", 1)[1], "Properties": {
                 "PrincipalId": stable_uuid("attacker-sp"), "PrincipalType": "ServicePrincipal",
                 "RoleDefinitionId": f"/subscriptions/{AZ_SUB}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                 "Scope": f"/subscriptions/{AZ_SUB}"}})})
    cs.pos(c, reason=[KUBELET_MI.object_id], notes=f"identity {KUBELET_MI.name} (object id {KUBELET_MI.object_id})")

    c = cs.cluster("kubelet identity runs a command on a scale set instance", start)
    azure_learned(c)
    c.tick(7200)
    az_write(c, KUBELET_MI, "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommand/action",
             az_rid(f"Microsoft.Compute/virtualMachineScaleSets/{VMSS}/virtualMachines/3"), accept=True, vmss=VMSS)
    cs.pos(c, reason=[KUBELET_MI.object_id])

    c = cs.cluster("kubelet identity lists storage account keys from an outside address", start)
    azure_learned(c)
    c.tick(5000)
    az_write(c, KUBELET_MI, "Microsoft.Storage/storageAccounts/listKeys/action",
             az_rid("Microsoft.Storage/storageAccounts/prodbackups7f3a", rg=AZ_RG), ip="198.51.100.141")
    cs.pos(c, reason=[KUBELET_MI.object_id])

    c = cs.cluster("EBS CSI driver role reads a Secrets Manager secret (CloudTrail)", start)
    baseline(c, 9, 12, lambda i: ebs_routine(c, i))
    c.tick(3000)
    ct_record(c, EBS_ROLE, "secretsmanager.amazonaws.com", "GetSecretValue", {"secretId": "prod/payments/db-admin"}, None,
              ip="198.51.100.142", read_only=True,
              ua="aws-cli/2.15.58 Python/3.11.8 Linux/6.1.0-21-cloud-amd64 exe/x86_64.debian.12 prompt/off command/secretsmanager.get-secret-value")
    cs.pos(c, reason=["AmazonEKS_EBS_CSI_DriverRole"])

    # negatives
    c = cs.cluster("kubelet identity's usual operations after learning", start)
    azure_learned(c, 11)
    cs.neg(c)

    c = cs.cluster("a new operation inside the learning period", start)
    azure_learned(c, 2)
    az_write(c, KUBELET_MI, "Microsoft.Compute/snapshots/write", az_rid("Microsoft.Compute/snapshots/pvc-snap-0412"), status="Created", vmss=VMSS)
    c.tick(600)
    baseline(c, 7.5, 12, lambda i: mi_routine(c, 99 + i))
    az_write(c, KUBELET_MI, "Microsoft.Compute/snapshots/write", az_rid("Microsoft.Compute/snapshots/pvc-snap-0977"), status="Created", vmss=VMSS)
    cs.neg(c)

    c = cs.cluster("a human administrator assigning a role", start)
    admin = AzureUser("alice@example.com")
    baseline(c, 9, 24, lambda i: az_write(c, admin, "Microsoft.Resources/deployments/write",
                                          f"/subscriptions/{AZ_SUB}/resourceGroups/{AZ_RG}/providers/Microsoft.Resources/deployments/release-{i}",
                                          status="Created", ip=IP_ALICE, role="Owner", scope=f"/subscriptions/{AZ_SUB}"))
    az_write(c, admin, "Microsoft.Authorization/roleAssignments/write",
             f"/subscriptions/{AZ_SUB}/resourceGroups/{AZ_RG}/providers/Microsoft.Authorization/roleAssignments/{c.uuid()}",
             status="Created", ip=IP_ALICE, role="Owner", scope=f"/subscriptions/{AZ_SUB}")
    cs.neg(c, notes="not an identity of a cluster add-on")

    c = cs.cluster("EBS CSI driver role's usual operations after learning (CloudTrail)", start)
    baseline(c, 11, 12, lambda i: ebs_routine(c, i))
    cs.neg(c)
    return cs


ALL_CASES = [case_pg_trust, case_pg_broad, case_abnormal_mi, case_rare_op, case_sensitive_mount, case_coredns, case_admission,
             case_miner_image, case_kubeflow, case_dashboard, case_exposed_service, case_redis, case_ti_proxy, case_delete_events,
             case_kube_hunter, case_kube_system_container, case_high_priv_role, case_privileged, case_cluster_admin_binding,
             case_suspicious_sa, case_container_discovery, case_excessive]


# ---------------------------------------------------------------------------------------------
# Routine cluster traffic: the quiet stream and the benchmark

QUIET_START = utc(2025, 3, 18, 8, 0, 0) + sec(0.418771)
LE_PERIOD = 26.0          # the recorded control plane: --leader-elect-lease-duration=137s --leader-elect-renew-deadline=107s --leader-elect-retry-period=26s
NODE_LEASE_PERIOD = 10.0  # kubelet default: a quarter of nodeLeaseDurationSeconds (40s)


def endpointslice(svc_name, ns, pods, port=8080, name=None):
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": name, "generateName": f"{svc_name}-", "namespace": ns, "creationTimestamp": None,
                         "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                    "kubernetes.io/service-name": svc_name},
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": None}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True, "serving": True, "terminating": False},
                           "targetRef": {"kind": "Pod", "namespace": ns, "name": pn, "uid": stable_uuid("pod", ns, pn)},
                           "nodeName": node} for pn, ip, node in pods],
            "ports": [{"name": "http", "protocol": "TCP", "port": port}]}


class Sim:
    """A small production cluster: 1 control-plane node, 3 workers (a 4th joins), calico, coredns, metrics-server,
    a shop, payments and analytics team, a GitLab CI runner deploying with kubectl, and two humans."""

    APPS = [  # ns, deployment, image, replicas, sa, port
        ("shop", "storefront", "registry.example.com/shop/storefront", "4.1.0", 3, "storefront", 8080),
        ("shop", "catalog", "registry.example.com/shop/catalog", "2.3.1", 2, "catalog", 8080),
        ("shop", "checkout", "registry.example.com/shop/checkout", "3.14.2", 2, "checkout", 8080),
        ("payments", "payments-api", "registry.example.com/payments/api", "7.0.3", 2, "payments-api", 8443),
        ("analytics", "report-worker", "registry.example.com/analytics/report-worker", "1.9.0", 1, "report-worker", None),
    ]

    def __init__(self, seed, start=QUIET_START, workers=3, extra_apps=0, intensity=1.0, join_node=True):
        self.c = Cluster(seed, start)
        self.rng = self.c.rng
        self.start = start
        self.workers = [f"k8s-worker-{i:02d}" for i in range(1, workers + 1)]
        self.nodes = ["k8s-cp-01"] + self.workers
        self.join_candidates = [f"k8s-worker-{i:02d}" for i in range(workers + 1, workers + 40)] if join_node else []
        self.intensity = intensity
        self.versions = {}
        self.pods = {}          # (ns, name) -> (node, sa, ip, owner-deployment)
        self.rs_of = {}         # (ns, deploy) -> current ReplicaSet name
        self.review_seq = 480
        self.live_reviews = []
        self.watch_chain = {}   # watcher key -> time its current watch ends
        self.block = 0
        self.apps = list(self.APPS)
        for i in range(extra_apps):
            ns = f"team-{i:02d}"
            self.apps.append((ns, f"svc-{i:02d}", f"registry.example.com/{ns}/svc-{i:02d}", f"1.{i}.0", 2, "default", 8080))
        self.ci_pod = ("ci", "gitlab-runner-7c9b8d6f5-m2k8x", "k8s-worker-02")
        self.kcm_holder = f"k8s-cp-01_{stable_uuid('kcm-holder', seed)}"
        self.sched_holder = f"k8s-cp-01_{stable_uuid('sched-holder', seed)}"
        self.setup()

    # -- initial state (objects that exist before the recording; they produce no events) --
    def seed_deploy(self, dep, nodes):
        c = self.c
        d = c.seed(dep, age_days=self.rng.randint(5, 60))
        rs = c.seed(rs_from_deployment(c, d), manager=KCM, age_days=2)
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        self.rs_of[(ns, name)] = rs["metadata"]["name"]
        sa = d["spec"]["template"]["spec"].get("serviceAccountName", "default")
        for node in nodes:
            p = c.seed(pod_from_owner(rs, rs["spec"]["template"]), manager=KCM, age_days=1)
            p["spec"]["nodeName"] = node
            ip = c.pod_ip(node)
            c.pod_ips[(ns, p["metadata"]["name"])] = ip
            p["status"] = {"phase": "Running", "podIP": ip, "hostIP": NODES[node][0]}
            self.pods[(ns, p["metadata"]["name"])] = (node, sa, ip, name)
        return d

    def seed_ds(self, ds, nodes):
        c = self.c
        d = c.seed(ds, manager="kubectl-client-side-apply", age_days=90)
        for node in nodes:
            p = c.seed(pod_from_owner(d, d["spec"]["template"], {"controller-revision-hash": pod_template_hash(c, d)[:10],
                                                              "pod-template-generation": "1"}, node_affinity=node, ds=True),
                       manager=KCM, age_days=3)
            p["spec"]["nodeName"] = node
            ns, name = "kube-system", p["metadata"]["name"]
            c.pod_ips[(ns, name)] = NODES[node][0]
            self.pods[(ns, name)] = (node, d["spec"]["template"]["spec"].get("serviceAccountName", "default"), NODES[node][0], None)
        return d

    def setup(self):
        c = self.c
        self.kube_proxy = self.seed_ds(kube_proxy_ds(), self.nodes)
        self.calico = self.seed_ds(calico_node_ds(), self.nodes)
        self.seed_deploy(coredns_deploy(), self.workers[:2])
        self.seed_deploy(metrics_server_deploy(), self.workers[-1:])
        ckc = deploy_obj("calico-kube-controllers", "kube-system",
                         podspec([ctr("calico-kube-controllers", f"docker.io/calico/kube-controllers:{CALICO_V}",
                                      env={"ENABLED_CONTROLLERS": "node", "DATASTORE_TYPE": "kubernetes"})],
                                 sa="calico-kube-controllers", priority_class="system-cluster-critical"),
                         {"k8s-app": "calico-kube-controllers"})
        self.seed_deploy(ckc, self.workers[:1])
        for ns, name, image, ver, reps, sa, port in self.apps:
            self.versions[(ns, name)] = ver
            dep = app_deploy(name, ns, f"{image}:{ver}", port=port, replicas=reps, sa=sa,
                             cm=f"{name}-config", secret=f"{name}-db" if port else None)
            self.seed_deploy(kubectl_apply_ann(dep), [self.workers[i % len(self.workers)] for i in range(reps)])
            c.seed(kubectl_apply_ann(configmap_obj(f"{name}-config", ns, {"LOG_LEVEL": "info", "FEATURE_FLAGS": "search-v2,fast-checkout"})))
            if port:
                c.seed(kubectl_apply_ann(service_obj(name, ns, {"app": name}, [(80, port, "http")])))
        runner = app_deploy("gitlab-runner", "ci", "registry.gitlab.com/gitlab-org/gitlab-runner:v17.0.0", port=9252, sa="gitlab-runner")
        self.seed_deploy(runner, ["k8s-worker-02"])
        c.seed(cronjob_obj("report-sync", "ops", "*/15 * * * *",
                           podspec([ctr("sync", "registry.example.com/ops/report-sync:0.8.2", command=["/report-sync", "--once"],
                                        sc={"allowPrivilegeEscalation": False, "runAsNonRoot": True})], restart="OnFailure",
                                   sa="report-sync")))
        c.seed(coredns_cm(), manager="kubeadm", age_days=120)
        for n in (479,):
            ns = f"review-pr-{n}"
            c.seed({"kind": "Namespace", "apiVersion": "v1", "metadata": meta(ns, labels={"kubernetes.io/metadata.name": ns})})
            self.live_reviews.append(ns)

    # -- identities --
    def ci(self, ns):
        ns_, pod, node = self.ci_pod
        return ci_ident(ns, pod=f"runner-{self.c.hexid(8)}-project-42-concurrent-0-{self.c.suffix()}", node=node,
                        ip=self.c.pod_ip(node))

    def pod_sa(self, ns, name):
        node, sa, ip, _ = self.pods[(ns, name)]
        return node, sa, ip

    # -- periodic traffic --
    def every(self, t0, t1, period, fn, jitter=0.0, phase=None):
        t = t0 + sec(phase if phase is not None else self.rng.uniform(0, period))
        while t < t1:
            self.c.at(t)
            fn()
            t += sec(period + self.rng.uniform(-jitter, jitter))

    def leases(self, t0, t1):
        c = self.c
        kcm = KCM_IDENT.but(ua=component_ua(KCM, "leader-election"))
        sch = SCHED_IDENT.but(ua=component_ua("kube-scheduler", "leader-election"))
        self.every(t0, t1, LE_PERIOD, lambda: c.lease_renew(kcm, "kube-system", "kube-controller-manager", self.kcm_holder, query="?timeout=5s"), 0.05)
        self.every(t0, t1, LE_PERIOD, lambda: c.lease_renew(sch, "kube-system", "kube-scheduler", self.sched_holder, query="?timeout=5s"), 0.05)
        for node in list(self.nodes):
            since = getattr(self, "joined_at", {}).get(node)
            s = max(t0, since) if since else t0
            if s < t1:
                self.every(s, t1, NODE_LEASE_PERIOD, lambda node=node: c.lease_renew(kubelet(node), "kube-node-lease", node, node), 0.02)

    def node_status(self, t0, t1):
        c = self.c

        def beat(node):
            now = ts_s(c.now)
            conds = [{"lastHeartbeatTime": now, "type": t} for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
            patch = {"status": {"$setElementOrder/conditions": [{"type": t["type"]} for t in conds], "conditions": conds}}
            c.emit(kubelet(node), "patch", f"/api/v1/nodes/{node}/status?timeout=10s", objref(KINDS["Node"], None, node, "status"),
                   level=RQ, req=patch, latency=c.rng.uniform(0.003, 0.012))
        for node in list(self.nodes):
            self.every(t0, t1, 300.0, lambda node=node: beat(node), 0.5)

    def probes(self, t0, t1):
        c = self.c
        lbp = ANON.but(src=IP_LB_HEALTH, ua="")
        bb = ANON.but(src="10.244.3.9", ua="Blackbox Exporter/0.25.0")
        kp = ANON.but(src=APISERVER_IP, ua=PROBE_UA)
        self.every(t0, t1, 60.0, lambda: c.nonresource(lbp, "/readyz"), 0.0)
        self.every(t0, t1, 120.0, lambda: c.nonresource(bb, "/livez"), 0.0)
        self.every(t0, t1, 300.0, lambda: c.nonresource(kp, "/healthz"), 0.0)

    def watchers(self):
        """(key, identity, kind, namespace, selector) for every long-running informer in the cluster."""
        out = []
        shared = KCM_IDENT
        for k in ("Pod", "Node", "Namespace", "Service", "EndpointSlice", "Deployment", "ReplicaSet", "DaemonSet", "Job", "CronJob",
                  "ServiceAccount", "Secret"):
            out.append((f"kcm/{k}", shared, KINDS[k], None, ""))
        sch = SCHED_IDENT.but(ua=component_ua("kube-scheduler", "scheduler"))
        out.append(("sched/Pod", sch, KINDS["Pod"], None, "fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed"))
        for k in ("Node", "Namespace", "PersistentVolumeClaim", "CSINode", "StorageClass"):
            out.append((f"sched/{k}", sch, KINDS[k], None, ""))
        for (ns, name), (node, sa, ip, owner) in sorted(self.pods.items()):
            if owner == "coredns":
                ident = sa_ident(ns, "coredns", pod=name, node=node, src=ip, ua=CLIENT_GO_APP.format("coredns"),
                                 authz=rbac_reason("ClusterRoleBinding", "system:coredns", "ClusterRole", "system:coredns", "ServiceAccount", "coredns/kube-system"))
                for k in ("EndpointSlice", "Service", "Namespace"):
                    out.append((f"coredns/{name}/{k}", ident, KINDS[k], None, ""))
            elif owner == "metrics-server":
                ident = sa_ident(ns, "metrics-server", pod=name, node=node, src=ip, ua="metrics-server/v0.7.1 (linux/amd64) kubernetes/4d1ee9e",
                                 authz=rbac_reason("ClusterRoleBinding", "system:metrics-server", "ClusterRole", "system:metrics-server", "ServiceAccount", "metrics-server/kube-system"))
                out.append((f"ms/{name}/Node", ident, KINDS["Node"], None, ""))
                out.append((f"ms/{name}/Pod", ident, KINDS["Pod"], None, ""))
            elif owner == "calico-kube-controllers":
                ident = sa_ident(ns, "calico-kube-controllers", pod=name, node=node, src=ip,
                                 ua="kube-controllers/v0.0.0 (linux/amd64) kubernetes/$Format",
                                 authz=rbac_reason("ClusterRoleBinding", "calico-kube-controllers", "ClusterRole", "calico-kube-controllers",
                                                   "ServiceAccount", "calico-kube-controllers/kube-system"))
                out.append((f"ckc/{name}/Node", ident, KINDS["Node"], None, ""))
                out.append((f"ckc/{name}/IPPool", ident, KINDS["IPPool"], None, ""))
            elif name.startswith("kube-proxy-"):
                ident = sa_ident(ns, "kube-proxy", pod=name, node=node, src=ip, ua=component_ua("kube-proxy"),
                                 authz=rbac_reason("ClusterRoleBinding", "kubeadm:node-proxier", "ClusterRole", "system:node-proxier", "ServiceAccount", "kube-proxy/kube-system"))
                out.append((f"kp/{node}", ident, KINDS["Node"], None, f"fieldSelector=metadata.name%3D{node}"))
            elif name.startswith("calico-node-"):
                ident = sa_ident(ns, "calico-node", pod=name, node=node, src=ip, ua="calico-node/v0.0.0 (linux/amd64) kubernetes/$Format",
                                 authz=rbac_reason("ClusterRoleBinding", "calico-node", "ClusterRole", "calico-node", "ServiceAccount", "calico-node/kube-system"))
                out.append((f"cn/{node}", ident, KINDS["FelixConfiguration"], None, ""))
        for node in self.nodes:
            out.append((f"kubelet/{node}/Pod", kubelet(node), KINDS["Pod"], None, f"fieldSelector=spec.nodeName%3D{node}"))
            out.append((f"kubelet/{node}/Node", kubelet(node), KINDS["Node"], None, f"fieldSelector=metadata.name%3D{node}"))
        return out

    def informers(self, t0, t1):
        c = self.c
        for key, ident, kind, ns, sel in self.watchers():
            t = self.watch_chain.get(key)
            if t is None:
                t = t0 + sec(self.rng.uniform(0, 420))
            while t < t1:
                d = self.rng.uniform(300, 599)
                c.watch(ident, kind, ns, selector=sel, duration=d, start=t)
                t = t + sec(d + self.rng.uniform(0.0005, 0.004))
            self.watch_chain[key] = t

    def token_refresh(self, t0, t1):
        """Kubelets renew projected service-account tokens of their pods (~every 48 minutes)."""
        c = self.c
        for (ns, name), (node, sa, ip, owner) in sorted(self.pods.items()):
            t = t0 + sec(self.rng.uniform(0, 2880))
            while t < t1:
                c.at(t)
                c.emit(kubelet(node), "create", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                       objref(KINDS["ServiceAccount"], ns, sa, "token"), code=201, level=MD,
                       latency=self.rng.uniform(0.002, 0.009))
                t += sec(2880 + self.rng.uniform(-60, 60))

    # -- episodes --
    def new_pod_running(self, owner, node, creator):
        c = self.c
        pods = controller_pods(c, owner, creator, [node])
        p = pods[0]
        ns, name = p["metadata"]["namespace"], p["metadata"]["name"]
        sa = p["spec"].get("serviceAccountName", "default")
        self.pods[(ns, name)] = (node, sa, c.pod_ips[(ns, name)], owner["metadata"].get("ownerReferences", [{}])[0].get("name"))
        return p

    def remove_pod(self, ns, name, deleter, *, event_owner=None):
        c = self.c
        node = self.pods.get((ns, name), ("k8s-worker-01",))[0]
        st = c.stored(KINDS["Pod"], ns, name)
        c.emit(deleter, "delete", KINDS["Pod"].path(ns, name), objref(KINDS["Pod"], ns, name), level=RR,
               req={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": st["metadata"]["uid"]}} if st else None,
               resp=None if not st else ordered({**copy.deepcopy(st), "metadata": ordered({**st["metadata"],
                                                                                         "deletionTimestamp": ts_s(c.now + sec(30)),
                                                                                         "deletionGracePeriodSeconds": 30}, META_ORDER)},
                                                ["kind", "apiVersion", "metadata", "spec", "status"]))
        if event_owner is not None:
            c.k8s_event(deleter, ns, event_owner, "SuccessfulDelete", f"Deleted pod: {name}",
                        source={"component": deleter.username.split(":")[-1]})
        c.tick(self.rng.uniform(0.5, 2))
        if st:
            c.k8s_event(kubelet(node), ns, st, "Killing", f'Stopping container {st["spec"]["containers"][0]["name"]}',
                        source={"component": "kubelet", "host": node})
        c.tick(self.rng.uniform(1, 8))
        c.emit(kubelet(node), "delete", KINDS["Pod"].path(ns, name), objref(KINDS["Pod"], ns, name), level=RR,
               req={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                    "preconditions": {"uid": st["metadata"]["uid"] if st else stable_uuid("pod", ns, name)}},
               resp={"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": name, "kind": "pods", "uid": st["metadata"]["uid"] if st else stable_uuid("pod", ns, name)}})
        c.store.pop(c.key(KINDS["Pod"], ns, name), None)
        self.pods.pop((ns, name), None)

    def update_eps(self, ns, svc_name):
        c = self.c
        pods = [(n, ip, node) for (pns, n), (node, sa, ip, owner) in sorted(self.pods.items()) if pns == ns and owner == svc_name]
        es_name = f"{svc_name}-{stable_uuid('eps', ns, svc_name)[:5].translate(str.maketrans('0123456789abcdef', 'bcdfghjklmnpqrst'))}"
        obj = endpointslice(svc_name, ns, pods, name=es_name)
        obj["metadata"].pop("generateName")
        obj["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] = ts_s(c.now)
        obj["metadata"]["uid"] = stable_uuid("eps-uid", ns, svc_name)
        obj["metadata"]["resourceVersion"] = str(c.rv)
        obj["metadata"]["creationTimestamp"] = "2025-02-03T11:20:41Z"
        obj["metadata"] = ordered(obj["metadata"], META_ORDER)
        resp = copy.deepcopy(obj)
        resp["metadata"]["resourceVersion"] = c.next_rv()
        c.emit(EPS_CTRL, "update", KINDS["EndpointSlice"].path(ns, es_name), objref(KINDS["EndpointSlice"], ns, es_name),
               level=RR, req=obj, resp=resp)

    def rollout_update(self, ns, name, patch, ident, query, nodes=None):
        """A change to a Deployment's template and the rolling update that follows."""
        c = self.c
        dkind = KINDS["Deployment"]
        c.get(ident, dkind, ns, name)
        c.tick(self.rng.uniform(0.02, 0.1))
        c.patch(ident, dkind, ns, name, patch, query=query)
        dep = c.stored(dkind, ns, name)
        c.tick(self.rng.uniform(0.005, 0.02))
        rs = rs_from_deployment(c, dep)
        old_rs = self.rs_of.get((ns, name))
        reps = dep["spec"].get("replicas", 1)
        rs["spec"]["replicas"] = 1
        rev = str(int(dep["metadata"].get("generation", 2)))
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = rev
        if c.stored(KINDS["ReplicaSet"], ns, rs["metadata"]["name"]) is None:
            c.create(DEPLOY_CTRL, rs, query="", manager=KCM)
        rs_s = c.stored(KINDS["ReplicaSet"], ns, rs["metadata"]["name"])
        self.rs_of[(ns, name)] = rs["metadata"]["name"]
        c.k8s_event(DEPLOY_CTRL, ns, dep, "ScalingReplicaSet", f'Scaled up replica set {rs["metadata"]["name"]} to 1',
                    source={"component": "deployment-controller"})
        old = [n for (pns, n), v in sorted(self.pods.items()) if pns == ns and v[3] == name]
        nodes = nodes or [self.pods[(ns, n)][0] for n in old] or self.workers[:reps]
        for i in range(reps):
            node = nodes[i % len(nodes)]
            self.new_pod_running(rs_s, node, RS_CTRL)
            if ns not in ("kube-system",) and c.stored(SVC, ns, name) is not None:
                self.update_eps(ns, name)
            c.tick(self.rng.uniform(1, 4))
            if i < len(old):
                c.k8s_event(DEPLOY_CTRL, ns, dep, "ScalingReplicaSet",
                            f"Scaled down replica set {old_rs} to {len(old) - i - 1}", source={"component": "deployment-controller"})
                ors = c.stored(KINDS["ReplicaSet"], ns, old_rs)
                if ors is not None:
                    upd = copy.deepcopy(ors)
                    upd["spec"]["replicas"] = len(old) - i - 1
                    c.update(DEPLOY_CTRL, upd, bump_gen=True)
                self.remove_pod(ns, old[i], RS_CTRL, event_owner=ors)
                if ns not in ("kube-system",) and c.stored(SVC, ns, name) is not None:
                    self.update_eps(ns, name)
            c.tick(self.rng.uniform(0.5, 3))
        st = copy.deepcopy(c.stored(dkind, ns, name))
        st["status"] = {"observedGeneration": st["metadata"].get("generation", 2), "replicas": reps, "updatedReplicas": reps,
                        "readyReplicas": reps, "availableReplicas": reps,
                        "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": ts_s(c.now), "lastTransitionTime": "2025-02-03T11:20:44Z",
                                        "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                                       {"type": "Progressing", "status": "True", "lastUpdateTime": ts_s(c.now), "lastTransitionTime": "2025-02-03T11:20:41Z",
                                        "reason": "NewReplicaSetAvailable", "message": f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'}]}
        c.update(DEPLOY_CTRL, st, sub="status", bump_gen=False)

    def ep_ci_deploy(self, t, ns, name):
        c = self.c.at(t)
        ci = self.ci(ns)
        c.nonresource(ci, "/api?timeout=32s")
        c.nonresource(ci, "/apis?timeout=32s")
        cm = f"{name}-config"
        c.get(ci, KINDS["ConfigMap"], ns, cm)
        c.tick(0.05)
        if c.stored(KINDS["Secret"], ns, f"{name}-db") is not None or self.rng.random() < 0.5:
            c.get(ci, KINDS["Secret"], ns, f"{name}-db")
            c.tick(0.04)
        major, minor, patch_ = self.versions[(ns, name)].split(".")
        ver = f"{major}.{minor}.{int(patch_) + 1}"
        self.versions[(ns, name)] = ver
        image = next(a[2] for a in self.apps if a[0] == ns and a[1] == name)
        dep = c.stored(KINDS["Deployment"], ns, name)
        cname = dep["spec"]["template"]["spec"]["containers"][0]["name"]
        last = jdump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"labels": {"app": name}, "name": name, "namespace": ns},
                      "spec": {"replicas": dep["spec"]["replicas"], "selector": {"matchLabels": {"app": name}},
                               "template": {"metadata": {"labels": {"app": name}},
                                            "spec": {"containers": [{"image": f"{image}:{ver}", "name": cname}]}}}}) + "\n"
        patch = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last}},
                 "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": cname}],
                                                "containers": [{"image": f"{image}:{ver}", "name": cname}]}}}}
        c.tick(0.05)
        self.rollout_update(ns, name, patch, ci, kapply_q())
        c.at(c.now)

    def ep_cron(self, t):
        c = self.c.at(t)
        cj = c.stored(KINDS["CronJob"], "ops", "report-sync")
        sched_min = int(t.timestamp() // 60)
        jname = f"report-sync-{sched_min}"
        job = {"kind": "Job", "apiVersion": "batch/v1",
               "metadata": meta(jname, "ops", annotations={"batch.kubernetes.io/cronjob-scheduled-timestamp": ts_s(t.replace(microsecond=0))},
                                owner=owner_ref(cj)),
               "spec": copy.deepcopy(cj["spec"]["jobTemplate"]["spec"]), "status": {}}
        job["spec"].update({"parallelism": 1, "completions": 1, "completionMode": "NonIndexed", "suspend": False,
                            "podReplacementPolicy": "TerminatingOrFailed"})
        c.create(CRONJOB_CTRL, job, query="", manager=KCM)
        c.k8s_event(CRONJOB_CTRL, "ops", cj, "SuccessfulCreate", f"Created job {jname}", source={"component": "cronjob-controller"})
        jst = c.stored(KINDS["Job"], "ops", jname)
        c.tick(0.02)
        node = self.rng.choice(self.workers)
        tmpl = copy.deepcopy(jst["spec"]["template"])
        pod = pod_from_owner(jst, tmpl)
        pod["metadata"]["finalizers"] = ["batch.kubernetes.io/job-tracking"]
        pod["metadata"]["annotations"] = {"batch.kubernetes.io/job-completion-index": None} if False else None
        pod["metadata"].pop("annotations")
        pod["metadata"] = ordered(pod["metadata"], META_ORDER)
        ev = c.create(JOB_CTRL, pod, query="", manager=KCM)
        p = c.stored(KINDS["Pod"], "ops", ev["responseObject"]["metadata"]["name"])
        c.k8s_event(JOB_CTRL, "ops", jst, "SuccessfulCreate", f'Created pod: {p["metadata"]["name"]}', source={"component": "job-controller"})
        c.tick(0.03)
        bind(c, p, node)
        c.tick(self.rng.uniform(2, 4))
        pod_running(c, p, node)
        c.tick(self.rng.uniform(25, 70))
        res_ = copy.deepcopy(c.stored(KINDS["Pod"], "ops", p["metadata"]["name"]))
        res_["status"]["phase"] = "Succeeded"
        c.patch(kubelet(node), KINDS["Pod"], "ops", p["metadata"]["name"],
                {"metadata": {"uid": p["metadata"]["uid"]}, "status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}]}},
                sub="status", level=RQ, result=res_, query="", manager="kubelet")
        c.tick(0.05)
        c.patch(JOB_CTRL, KINDS["Pod"], "ops", p["metadata"]["name"], {"metadata": {"$deleteFromPrimitiveList/finalizers": ["batch.kubernetes.io/job-tracking"]}},
                query="", manager=KCM)
        c.tick(0.02)
        js = copy.deepcopy(c.stored(KINDS["Job"], "ops", jname))
        js["status"] = {"conditions": [{"type": "Complete", "status": "True", "lastProbeTime": ts_s(c.now), "lastTransitionTime": ts_s(c.now)}],
                        "startTime": ts_s(t), "completionTime": ts_s(c.now), "succeeded": 1, "terminating": 0,
                        "uncountedTerminatedPods": {}, "ready": 0}
        c.update(JOB_CTRL, js, sub="status", bump_gen=False)
        c.k8s_event(JOB_CTRL, "ops", jst, "Completed", "Job completed", source={"component": "job-controller"})
        c.tick(self.rng.uniform(0.5, 3))
        cjs = copy.deepcopy(c.stored(KINDS["CronJob"], "ops", "report-sync"))
        cjs["status"] = {"lastScheduleTime": ts_s(t.replace(microsecond=0)), "lastSuccessfulTime": ts_s(c.now)}
        c.update(CRONJOB_CTRL, cjs, sub="status", bump_gen=False)
        old = f"report-sync-{sched_min - 45}"
        c.tick(0.01)
        c.delete(CRONJOB_CTRL, KINDS["Job"], "ops", old, body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        c.k8s_event(CRONJOB_CTRL, "ops", cj, "SawCompletedJob", f"Saw completed job: {jname}, status: Complete",
                    source={"component": "cronjob-controller"})
        c.tick(0.3)
        opod = f"{old}-{c.suffix()}"
        c.emit(GC_CTRL, "delete", KINDS["Pod"].path("ops", opod), objref(KINDS["Pod"], "ops", opod), level=RR,
               req={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": stable_uuid("pod", "ops", opod)},
                    "propagationPolicy": "Background"},
               resp={"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": opod, "kind": "pods", "uid": stable_uuid("pod", "ops", opod)}})

    def ep_user(self, t, who):
        c = self.c.at(t)
        ns = {"alice@example.com": self.rng.choice(["shop", "payments", "kube-system"]),
              "bob@example.com": "shop", "carol@example.com": "analytics"}[who.username]
        c.nonresource(who, "/api?timeout=32s")
        c.nonresource(who, "/apis?timeout=32s")
        c.tick(0.08)
        c.list(who, KINDS["Pod"], ns)
        mine = [n for (pns, n) in sorted(self.pods) if pns == ns]
        if mine and self.rng.random() < 0.7:
            pn = self.rng.choice(mine)
            c.tick(self.rng.uniform(4, 40))
            c.get(who, KINDS["Pod"], ns, pn)
            c.tick(0.05)
            c.list(who, CORE_EVENT, ns, query=f"?fieldSelector=involvedObject.name%3D{pn}%2CinvolvedObject.namespace%3D{ns}%2CinvolvedObject.uid%3D{stable_uuid('pod', ns, pn)}&limit=500")
            c.tick(self.rng.uniform(5, 60))
            st = c.stored(KINDS["Pod"], ns, pn)
            cont = st["spec"]["containers"][0]["name"] if st else pn.rsplit("-", 2)[0]
            c.emit(who, "get", KINDS["Pod"].path(ns, pn, "log") + f"?container={cont}&tailLines=200", objref(KINDS["Pod"], ns, pn, "log"),
                   level=RQ, latency=self.rng.uniform(0.02, 0.2))
        if self.rng.random() < 0.4:
            c.tick(self.rng.uniform(5, 30))
            c.list(who, KINDS["Deployment"], ns)
        if self.rng.random() < 0.15:
            c.tick(self.rng.uniform(3, 20))
            c.list(who, KINDS["Node"], None)

    def ep_review_create(self, t):
        c = self.c.at(t)
        self.review_seq += 1
        ns = f"review-pr-{self.review_seq}"
        ci = self.ci(ns).but(authz=rbac_reason("ClusterRoleBinding", "ci-namespace-provisioner", "ClusterRole", "ci-namespace-provisioner",
                                               "ServiceAccount", "deployer/ci"))
        c.get(ci, KINDS["Namespace"], None, ns, code=404)
        c.create(ci, kubectl_apply_ann({"kind": "Namespace", "apiVersion": "v1", "metadata": meta(ns, labels={"app.kubernetes.io/part-of": "review-apps"})}),
                 query=kapply_q())
        c.tick(0.01)
        c.create(controller("serviceaccount-controller"), {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": meta("default", ns)},
                 query="", manager=KCM)
        c.create(controller("root-ca-cert-publisher"), configmap_obj("kube-root-ca.crt", ns, {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n-----END CERTIFICATE-----\n"},
                                                                            annotations={"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}),
                 query="", manager=KCM)
        c.tick(0.4)
        apply_create(c, ci, binding_obj("review-viewers", "ClusterRole", "view", [subject("Group", "shop-devs")], ns=ns))
        c.tick(0.1)
        apply_create(c, ci, configmap_obj("storefront-config", ns, {"LOG_LEVEL": "debug", "FEATURE_FLAGS": "search-v2"}))
        c.tick(0.1)
        c.get(ci, KINDS["Secret"], ns, "storefront-db", code=404)
        c.create(ci, kubectl_apply_ann(secret_obj("storefront-db", ns, {"password": "review-only-" + c.hexid(12)})), level=MD, query=kapply_q())
        c.tick(0.1)
        apply_create(c, ci, service_obj("storefront", ns, {"app": "storefront"}, [(80, 8080, "http")]))
        c.tick(0.1)
        ver = self.versions[("shop", "storefront")]
        dep = app_deploy("storefront", ns, f"registry.example.com/shop/storefront:{ver}-pr{self.review_seq}", replicas=1,
                         cm="storefront-config", secret="storefront-db")
        c.get(ci, KINDS["Deployment"], ns, "storefront", code=404)
        pods = rollout(c, ci, kubectl_apply_ann(dep), [self.rng.choice(self.workers)], query=kapply_q())
        for p in pods:
            self.pods[(ns, p["metadata"]["name"])] = (p["spec"].get("nodeName") or self.workers[0], "default",
                                                      c.pod_ips[(ns, p["metadata"]["name"])], "storefront")
        self.update_eps(ns, "storefront")
        self.live_reviews.append(ns)

    def ep_review_delete(self, t):
        if not self.live_reviews:
            return
        c = self.c.at(t)
        ns = self.live_reviews.pop(0)
        ci = self.ci(ns).but(authz=rbac_reason("ClusterRoleBinding", "ci-namespace-provisioner", "ClusterRole", "ci-namespace-provisioner",
                                               "ServiceAccount", "deployer/ci"))
        c.emit(ci, "delete", f"/api/v1/namespaces/{ns}", objref(KINDS["Namespace"], None, ns), level=RR,
               req={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
               resp={"kind": "Namespace", "apiVersion": "v1",
                     "metadata": {"name": ns, "uid": stable_uuid("ns", ns), "resourceVersion": c.next_rv(),
                                  "creationTimestamp": ts_s(c.now - sec(3600)), "deletionTimestamp": ts_s(c.now),
                                  "labels": {"kubernetes.io/metadata.name": ns}},
                     "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}})
        c.tick(0.3)
        c.get(NS_CTRL, KINDS["Namespace"], None, ns)
        for k in (KINDS["ConfigMap"], KINDS["Endpoints"], CORE_EVENT, KINDS["PersistentVolumeClaim"], KINDS["Pod"], KINDS["Secret"],
                  KINDS["ServiceAccount"], KINDS["Service"], KINDS["ControllerRevision"], KINDS["DaemonSet"], KINDS["Deployment"],
                  KINDS["ReplicaSet"], KINDS["StatefulSet"], KINDS["Job"], KINDS["CronJob"], KINDS["Lease"], KINDS["EndpointSlice"],
                  NEW_EVENT, KINDS["Ingress"], KINDS["NetworkPolicy"], KINDS["PodDisruptionBudget"], KINDS["Role"], KINDS["RoleBinding"],
                  KINDS["HorizontalPodAutoscaler"]):
            c.tick(self.rng.uniform(0.003, 0.02))
            c.deletecollection(NS_CTRL, k, ns, body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        for (pns, pn) in [k for k in sorted(self.pods) if k[0] == ns]:
            node = self.pods[(pns, pn)][0]
            c.tick(self.rng.uniform(1, 6))
            c.emit(kubelet(node), "delete", KINDS["Pod"].path(ns, pn), objref(KINDS["Pod"], ns, pn), level=RR,
                   req={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": stable_uuid("pod", ns, pn)}},
                   resp={"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": pn, "kind": "pods", "uid": stable_uuid("pod", ns, pn)}})
            self.pods.pop((pns, pn), None)
        c.tick(self.rng.uniform(3, 10))
        c.emit(NS_CTRL, "update", f"/api/v1/namespaces/{ns}/finalize", objref(KINDS["Namespace"], None, ns, "finalize"), level=RR,
               req={"kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": ns, "uid": stable_uuid("ns", ns), "resourceVersion": str(c.rv), "creationTimestamp": ts_s(c.now - sec(3600)),
                                 "deletionTimestamp": ts_s(c.now - sec(12)), "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {}, "status": {"phase": "Terminating"}},
               resp={"kind": "Namespace", "apiVersion": "v1",
                     "metadata": {"name": ns, "uid": stable_uuid("ns", ns), "resourceVersion": c.next_rv(), "creationTimestamp": ts_s(c.now - sec(3600)),
                                  "deletionTimestamp": ts_s(c.now - sec(12)), "labels": {"kubernetes.io/metadata.name": ns}},
                     "spec": {}, "status": {"phase": "Terminating"}})

    def ep_node_join(self, t):
        if not self.join_candidates:
            return
        c = self.c.at(t)
        node = self.join_candidates.pop(0)
        pods = node_join(c, node, [self.kube_proxy, self.calico])
        for p in pods:
            self.pods[("kube-system", p["metadata"]["name"])] = (node, p["spec"].get("serviceAccountName"), NODES[node][0], None)
        self.nodes.append(node)
        self.workers.append(node)
        if not hasattr(self, "joined_at"):
            self.joined_at = {}
        self.joined_at[node] = c.now

    def ep_kube_system_update(self, t, which):
        c = self.c.at(t)
        if which == "metrics-server":
            cur = c.stored(KINDS["Deployment"], "kube-system", "metrics-server")
            old_img = cur["spec"]["template"]["spec"]["containers"][0]["image"]
            new_img = old_img[:-1] + str(int(old_img[-1]) + 1)
            patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "metrics-server"}],
                                                    "containers": [{"image": new_img, "name": "metrics-server"}]}}}}
            self.rollout_update("kube-system", "metrics-server", patch, helm(ALICE), helm_q())
        else:
            patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": ts_s(t)}}}}}
            self.rollout_update("kube-system", "coredns", patch, ALICE, "?fieldManager=kubectl-rollout")

    def ep_human_deploy(self, t, who):
        """A developer applies a new image of their team's deployment from their laptop."""
        ns, name = ("analytics", "report-worker") if who is CAROL else ("shop", "catalog")
        if (ns, name) not in self.versions:
            return
        c = self.c.at(t)
        major, minor, patch_ = self.versions[(ns, name)].split(".")
        ver = f"{major}.{minor}.{int(patch_) + 1}"
        self.versions[(ns, name)] = ver
        image = next(a[2] for a in self.apps if a[0] == ns and a[1] == name)
        c.nonresource(who, "/api?timeout=32s")
        c.nonresource(who, "/apis?timeout=32s")
        c.tick(0.1)
        patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": name}],
                                                "containers": [{"image": f"{image}:{ver}", "name": name}]}}}}
        self.rollout_update(ns, name, patch, who, kapply_q())

    def ep_rolebinding(self, t):
        c = self.c.at(t)
        ns = "analytics"
        if self.rng.random() < 0.5:
            apply_create(c, ALICE, binding_obj(f"data-team-view-{c.suffix()}", "ClusterRole", "view", [subject("Group", "data-team")], ns=ns))
        else:
            c.create(ALICE, binding_obj(f"carol-edit-{c.suffix()}", "ClusterRole", "edit", [subject("User", "carol@example.com")], ns=ns),
                     query=kcreate_q())

    def ep_ci_config(self, t, ns, name):
        c = self.c.at(t)
        ci = self.ci(ns)
        cm = c.stored(KINDS["ConfigMap"], ns, f"{name}-config")
        if cm is None:
            return
        c.get(ci, KINDS["ConfigMap"], ns, f"{name}-config")
        c.tick(0.05)
        flags = self.rng.choice(["search-v2", "search-v2,fast-checkout", "search-v3,fast-checkout", "fast-checkout"])
        c.patch(ci, KINDS["ConfigMap"], ns, f"{name}-config", {"data": {"FEATURE_FLAGS": flags}}, query=kapply_q())
        c.tick(0.05)
        c.get(ci, KINDS["Secret"], ns, f"{name}-db")
        c.tick(0.03)
        c.emit(ci, "patch", KINDS["Secret"].path(ns, f"{name}-db") + kapply_q(), objref(KINDS["Secret"], ns, f"{name}-db"), level=MD)

    def ep_events(self, t0, t1):
        """Background events: probe failures, image pulls, HPA-less scaling noise."""
        c = self.c
        pods = sorted(self.pods.items())
        n = int((t1 - t0).total_seconds() / 240 * self.intensity)
        for _ in range(n):
            (ns, pn), (node, sa, ip, owner) = self.rng.choice(pods)
            c.at(t0 + sec(self.rng.uniform(0, (t1 - t0).total_seconds())))
            st = c.stored(KINDS["Pod"], ns, pn) or {"kind": "Pod", "metadata": {"name": pn, "uid": stable_uuid("pod", ns, pn)}}
            if self.rng.random() < 0.6:
                c.k8s_event(kubelet(node), ns, st, "Unhealthy", "Readiness probe failed: Get \"http://%s:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)" % ip,
                            type_="Warning", source={"component": "kubelet", "host": node})
            else:
                ev = c.k8s_event(kubelet(node), ns, st, "BackOff", "Back-off pulling image", type_="Warning",
                                 source={"component": "kubelet", "host": node})
                ename = ev["objectRef"]["name"]
                c.tick(self.rng.uniform(10, 60))
                c.emit(kubelet(node), "patch", CORE_EVENT.path(ns, ename), objref(CORE_EVENT, ns, ename), level=MD)

    def run_block(self, t0, t1):
        """One hour of cluster life."""
        b = self.block
        self.block += 1
        self.leases(t0, t1)
        self.node_status(t0, t1)
        self.probes(t0, t1)
        self.informers(t0, t1)
        self.token_refresh(t0, t1)
        span = (t1 - t0).total_seconds()
        at = lambda frac: t0 + sec(span * frac + self.rng.uniform(0, 40))
        # cron every 15 minutes
        m = t0.replace(second=0, microsecond=0)
        while m < t1:
            if m.minute % 15 == 0 and m >= t0:
                self.ep_cron(m + sec(self.rng.uniform(0.01, 0.4)))
            m += sec(60)
        n_users = max(1, int(6 * self.intensity))
        for i in range(n_users):
            self.ep_user(at(self.rng.random() * 0.97), self.rng.choice([ALICE, BOB, BOB, CAROL]))
        deploys = [(a[0], a[1]) for a in self.apps if a[6]]
        for i in range(max(1, int(self.intensity))):
            ns, name = deploys[(b * 2 + i) % len(deploys)]
            self.ep_ci_deploy(at(0.10 + 0.5 * i / max(1, int(self.intensity))), ns, name)
            self.ep_ci_config(at(0.62), *deploys[(b * 3 + i + 1) % len(deploys)])
        if b % 2 == 0:
            self.ep_review_create(at(0.35))
        else:
            self.ep_review_delete(at(0.30))
            self.ep_rolebinding(at(0.70))
        if b % 2 == 1 and self.join_candidates and (b // 2) % 3 == 0:
            self.ep_node_join(at(0.55))
        if b % 2 == 1:
            self.ep_kube_system_update(at(0.05), "metrics-server")
        elif b % 4 == 0:
            self.ep_kube_system_update(at(0.58), "coredns")
        self.ep_human_deploy(at(0.47), CAROL if b % 2 == 0 else BOB)
        self.ep_events(t0, t1)
        return self.c.take()


def stream(sim: Sim, hours=None, max_events=None, inject=None):
    """Yield events in stageTimestamp order, block by block (one hour each)."""
    pending = []
    t = sim.start
    emitted = 0
    blocks = 0
    while True:
        if hours is not None and blocks >= hours:
            break
        t1 = t + dt.timedelta(hours=1)
        evs = sim.run_block(t, t1)
        if inject:
            evs += inject(sim, t, t1, len(evs))
        pending += evs
        pending.sort(key=lambda e: e.get("stageTimestamp") or "")
        cut = ts(t1)
        ready = [e for e in pending if e["stageTimestamp"] < cut]
        pending = [e for e in pending if e["stageTimestamp"] >= cut]
        for e in ready:
            yield e
            emitted += 1
            if max_events is not None and emitted >= max_events:
                return
        t = t1
        blocks += 1
    # requests still running when the recording stops are not in it
    if max_events is not None:
        for e in pending:
            if emitted >= max_events:
                return
            yield e
            emitted += 1


def big_dashboards(n_panels, rng):
    panels = []
    for i in range(n_panels):
        panels.append({"id": i + 1, "type": rng.choice(["timeseries", "stat", "table", "heatmap"]),
                       "title": f"{rng.choice(['Request rate', 'Error ratio', 'p99 latency', 'CPU', 'Memory', 'Queue depth'])} ({i})",
                       "datasource": {"type": "prometheus", "uid": "prometheus"},
                       "targets": [{"expr": f'sum(rate(http_requests_total{{namespace="shop",code=~"5..",pod=~"storefront-.*"}}[5m])) by (pod) / {i + 1}',
                                    "refId": "A", "legendFormat": "{{pod}}"}],
                       "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
                       "fieldConfig": {"defaults": {"unit": rng.choice(["reqps", "percentunit", "s", "bytes"]), "min": 0}, "overrides": []}})
    return jdump({"title": "Shop overview", "uid": "shop-overview", "schemaVersion": 39, "time": {"from": "now-6h", "to": "now"},
                  "panels": panels})


class BenchSim(Sim):
    """A busier cluster for benchmarks: more nodes, teams and deploys; large ConfigMaps now and then."""

    def run_block(self, t0, t1):
        evs = super().run_block(t0, t1)
        c = self.c
        for i in range(int(13 * self.intensity)):
            c.at(t0 + sec(self.rng.uniform(0, 3500)))
            ci = self.ci("monitoring")
            team = self.rng.choice(["shop", "payments", "analytics", "platform", "ci"])
            name = f"grafana-dashboards-{team}"
            data = {f"{team}-overview.json": big_dashboards(self.rng.randint(5, 13), self.rng)}
            cur = c.stored(KINDS["ConfigMap"], "monitoring", name)
            if cur is None:
                c.get(ci, KINDS["ConfigMap"], "monitoring", name, code=404)
                c.create(ci, kubectl_apply_ann(configmap_obj(name, "monitoring", data, labels={"grafana_dashboard": "1"})), query=kapply_q())
            else:
                c.get(ci, KINDS["ConfigMap"], "monitoring", name)
                new = kubectl_apply_ann(configmap_obj(name, "monitoring", data, labels={"grafana_dashboard": "1"}))
                c.patch(ci, KINDS["ConfigMap"], "monitoring", name,
                        {"data": data, "metadata": {"annotations": new["metadata"]["annotations"]}}, query=kapply_q())
        return evs + c.take()


INJECT_KINDS = ["privileged", "sensitive", "cluster_admin", "role", "loadbalancer", "miner", "coredns", "webhook", "delete_events"]


def bench_injector(rate=0.01):
    counter = {"n": 0}

    def inject(sim: Sim, t0, t1, n_base):
        c = sim.c
        want = max(1, round(n_base * rate))
        made = 0
        while made < want:
            counter["n"] += 1
            n = counter["n"]
            kind = INJECT_KINDS[n % len(INJECT_KINDS)]
            c.at(t0 + sec(c.rng.uniform(0, (t1 - t0).total_seconds() - 5)))
            ns = c.rng.choice([a[0] for a in sim.apps])
            who = c.rng.choice([ALICE, ADMIN, sim.ci(ns)])
            before = len(c.events)
            if kind == "privileged":
                c.create(who, pod_obj(f"debug-{n}", ns, podspec([ctr("debug", "docker.io/library/ubuntu:22.04", command=["sleep", "infinity"],
                                                                     sc={"privileged": True})])), query="?fieldManager=kubectl-run")
            elif kind == "sensitive":
                spec = podspec([ctr("agent", "registry.example.com/ci/build-agent:4.2.0", mounts=[("docker-sock", "/var/run/docker.sock")])],
                               volumes=[hostpath("docker-sock", "/var/run/docker.sock", "Socket")])
                c.create(who, kubectl_apply_ann(deploy_obj(f"build-agent-{n}", ns, spec, {"app": f"build-agent-{n}"})), query=kapply_q())
            elif kind == "cluster_admin":
                c.create(ALICE, binding_obj(f"ops-admin-{n}", "ClusterRole", "cluster-admin",
                                            [subject("ServiceAccount", f"automation-{n}", "kube-system")]), query=kcreate_q())
            elif kind == "role":
                c.create(ALICE, role_obj(f"superuser-{n}", [rule(["*"], ["*"], ["*"])]), query=kcreate_q())
            elif kind == "loadbalancer":
                c.create(who, redis_deploy(f"cache-{n}", ns), query=kapply_q())
                c.tick(30)
                c.create(who, lb(f"cache-{n}-lb", ns, {"app": f"cache-{n}"}, [(6379, 6379, "redis")]), query=kapply_q())
            elif kind == "miner":
                c.create(who, pod_obj(f"perf-{n}", ns, podspec([ctr("worker", "docker.io/metal3d/xmrig:latest")])), query="?fieldManager=kubectl-run")
            elif kind == "coredns":
                cur = c.stored(KINDS["ConfigMap"], "kube-system", "coredns")
                c.patch(ALICE, KINDS["ConfigMap"], "kube-system", "coredns",
                        {"data": {"Corefile": COREFILE.replace("cache 30", f"cache {30 + n % 60}")}}, base=cur,
                        query="?fieldManager=kubectl-edit&fieldValidation=Strict")
            elif kind == "webhook":
                c.create(helm(ALICE), webhook_obj("MutatingWebhookConfiguration", f"injector-{n}.example.com",
                                                  [webhook(f"inject.injector-{n}.example.com", service=("ops", f"injector-{n}", 443))]),
                         query=helm_q())
            elif kind == "delete_events":
                c.deletecollection(ALICE, CORE_EVENT, ns, level=MD)
            made += len(c.events) - before
        return c.take()
    return inject


# ---------------------------------------------------------------------------------------------
# The attack recording


ATTACK_START = utc(2025, 3, 20, 2, 11, 0) + sec(0.283514)


def attack():
    c = Cluster(20250320, ATTACK_START)
    rng = c.rng
    sf_pod, sf_ip, sf_node = "storefront-7d4b9c8f6d-x2kqp", "10.244.1.23", "k8s-worker-01"
    stolen = sa_ident("shop", "storefront", pod=sf_pod, node=sf_node, src=sf_ip, ua=CURL_UA, authz=STOREFRONT_ADMIN)
    app = stolen.but(ua=CLIENT_GO_APP.format("storefront"))
    kubectl_in_pod = stolen.but(ua=KUBECTL)
    c.seed(coredns_cm(), manager="kubeadm", age_days=120)
    c.seed(dashboard_deploy(), age_days=70)
    c.seed(dashboard_svc("ClusterIP"), age_days=70)
    kcm_le = KCM_IDENT.but(ua=component_ua(KCM, "leader-election"))
    kcm_holder = f"k8s-cp-01_{stable_uuid('attack-kcm')}"

    def routine(n=1):
        for _ in range(n):
            r = rng.random()
            if r < 0.3:
                c.lease_renew(kcm_le, "kube-system", "kube-controller-manager", kcm_holder, query="?timeout=5s")
            elif r < 0.55:
                node = rng.choice(["k8s-worker-01", "k8s-worker-02", "k8s-worker-03"])
                c.lease_renew(kubelet(node), "kube-node-lease", node, node)
            elif r < 0.7:
                c.nonresource(ANON.but(ua=""), "/readyz")
            elif r < 0.85:
                c.get(app, KINDS["ConfigMap"], "shop", "storefront-config")
            else:
                c.list(BOB, KINDS["Pod"], "shop")
            c.tick(rng.uniform(3, 25))

    # 02:11 normal life; the storefront app reads its configuration
    routine(3)
    def phase(hh_mm_ss):
        """Routine traffic until the attacker's next step."""
        target = utc(2025, 3, 20, 2, *hh_mm_ss) + sec(rng.uniform(0, 0.9))
        while c.now + sec(100) < target:
            c.tick(rng.uniform(45, 95))
            routine(1)
        c.at(max(c.now, target))
    phase((12, 40))
    # 02:12 the web shell in the storefront pod uses the pod's token with curl: who am I, what can I do?
    c.nonresource(stolen, "/version")
    c.tick(2.1)
    ssrr = Kind("SelfSubjectRulesReview", "authorization.k8s.io", "v1", "selfsubjectrulesreviews", namespaced=False)
    c.emit(stolen, "create", ssrr.path(), objref(ssrr),
           code=201, level=RR,
           req={"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": None},
                "spec": {"namespace": "shop"}, "status": {"resourceRules": None, "nonResourceRules": None, "incomplete": False}},
           resp={"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": None},
                 "spec": {}, "status": {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}})
    c.tick(9.4)
    # enumeration across namespaces
    c.list(stolen, KINDS["Namespace"], query="")
    c.tick(3.2)
    c.list(stolen, KINDS["Pod"], query="")
    c.tick(4.8)
    c.list(stolen, KINDS["Secret"], query="")
    c.tick(6.1)
    c.list(stolen, CRB, query="")
    c.tick(2.5)
    routine(2)
    phase((15, 52))
    # 02:15 a privileged pod with the node's root filesystem, in kube-system, pinned to a node
    c.nonresource(kubectl_in_pod, "/api?timeout=32s")
    c.nonresource(kubectl_in_pod, "/apis?timeout=32s")
    c.tick(0.2)
    evil = pod_obj("kube-proxy-helper", "kube-system",
                   podspec([ctr("helper", "docker.io/library/alpine:3.20", command=["/bin/sh", "-c", "sleep 1000000"],
                                mounts=[("host", "/host")], sc={"privileged": True})],
                           volumes=[hostpath("host", "/")], host_network=True, host_pid=True, node="k8s-worker-03",
                           tolerations=[{"operator": "Exists"}]),
                   labels={"k8s-app": "kube-proxy"})
    c.create(kubectl_in_pod, evil, query="?fieldManager=kubectl-create&fieldValidation=Strict")
    pod = c.stored(KINDS["Pod"], "kube-system", "kube-proxy-helper")
    c.tick(2.7)
    c.k8s_event(kubelet("k8s-worker-03"), "kube-system", pod, "Pulled", 'Container image "docker.io/library/alpine:3.20" already present on machine',
                source={"component": "kubelet", "host": "k8s-worker-03"})
    c.tick(0.6)
    pod_running(c, pod, "k8s-worker-03")
    c.tick(5.5)
    c.exec_(kubectl_in_pod, "kube-system", "kube-proxy-helper", "helper", ["chroot", "/host", "/bin/bash"], verb="get")
    routine(2)
    phase((21, 5))
    # 02:21 persistence: a service account bound to cluster-admin, and a long-lived token for it
    c.create(kubectl_in_pod, {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": meta("cluster-maintenance", "kube-system")})
    c.tick(3.3)
    c.create(kubectl_in_pod, binding_obj("cluster-maintenance", "ClusterRole", "cluster-admin",
                                         [subject("ServiceAccount", "cluster-maintenance", "kube-system")]))
    c.tick(4.0)
    c.emit(kubectl_in_pod, "create", "/api/v1/namespaces/kube-system/serviceaccounts/cluster-maintenance/token",
           objref(KINDS["ServiceAccount"], "kube-system", "cluster-maintenance", "token"), code=201, level=MD)
    c.tick(40)
    routine(2)
    phase((23, 31))
    # 02:23 from now on the new token is used from outside, through an anonymising proxy
    backdoor = sa_ident("kube-system", "cluster-maintenance", src=TI_PROXY_IP, ua=KUBECTL_MAC,
                        authz=rbac_reason("ClusterRoleBinding", "cluster-maintenance", "ClusterRole", "cluster-admin",
                                          "ServiceAccount", "cluster-maintenance/kube-system"))
    c.nonresource(backdoor, "/api?timeout=32s")
    c.nonresource(backdoor, "/apis?timeout=32s")
    c.tick(0.3)
    c.list(backdoor, KINDS["Pod"], "kube-system")
    c.tick(35)
    phase((24, 48))
    # 02:24 a mutating webhook that sees every new pod
    c.create(backdoor, webhook_obj("MutatingWebhookConfiguration", "pod-defaults.kube-tools.io",
                                   [webhook("pod-defaults.kube-tools.io", url="https://198.51.100.60:8443/mutate",
                                            rules_=[{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "*"}],
                                            ca=False, failure="Ignore")]), query=kapply_q())
    routine(3)
    phase((29, 10))
    # 02:29 cluster DNS: a login host now resolves to the attacker
    c.get(backdoor, KINDS["ConfigMap"], "kube-system", "coredns")
    c.tick(31)
    c.patch(backdoor, KINDS["ConfigMap"], "kube-system", "coredns",
            {"data": {"Corefile": COREFILE.replace("    prometheus :9153\n", "    hosts {\n       198.51.100.80 login.example.com\n       fallthrough\n    }\n    prometheus :9153\n")}},
            query="?fieldManager=kubectl-edit&fieldValidation=Strict")
    routine(3)
    phase((33, 27))
    # 02:33 the dashboard, exposed to the internet
    cur = c.stored(SVC, "kubernetes-dashboard", "kubernetes-dashboard")
    out = copy.deepcopy(cur)
    out["spec"].update({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": True})
    out["spec"]["ports"][0]["nodePort"] = 31443
    c.patch(backdoor, SVC, "kubernetes-dashboard", "kubernetes-dashboard", {"spec": {"type": "LoadBalancer"}}, result=out)
    c.tick(1)
    lb_ready(c, "kubernetes-dashboard", "kubernetes-dashboard", "203.0.113.90")
    routine(2)
    phase((38, 2))
    # 02:38 covering tracks: events in kube-system and kubernetes-dashboard
    for ns in ("kube-system", "kubernetes-dashboard"):
        c.list(backdoor, CORE_EVENT, ns)
        c.tick(0.4)
        c.deletecollection(backdoor, CORE_EVENT, ns, level=MD)
        c.tick(0.3)
    c.deletecollection(backdoor, NEW_EVENT, "kube-system", level=MD)
    c.tick(8)
    routine(3)
    return c.take()


# ---------------------------------------------------------------------------------------------
# Files

POLICY_YAML = """# The audit policy of the cluster the test data was recorded on (kube-apiserver --audit-policy-file).
# Some case variants deliberately use other levels (a Metadata-only policy, Request for writes)
# to check that rules do not guess when bodies are missing.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  # high volume, no security value
  - level: None
    userGroups: ["system:nodes"]
    verbs: ["get"]
    resources: [{group: "", resources: ["nodes", "nodes/status"]}]
  - level: None
    users: ["system:serviceaccount:kube-system:kube-proxy"]
    verbs: ["watch"]
    resources: [{group: "", resources: ["endpoints", "services", "services/status"]}, {group: "discovery.k8s.io", resources: ["endpointslices"]}]
  - level: None
    users: ["system:kube-controller-manager", "system:kube-scheduler"]
    verbs: ["get"]
    resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
  - level: None
    users: ["system:kube-controller-manager", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"]
    verbs: ["get", "list"]
    resources: [{group: "metrics.k8s.io"}]
  # leases, events, tokens: who and when only
  - level: Metadata
    resources: [{group: "coordination.k8s.io", resources: ["leases"]}, {group: "", resources: ["events"]}, {group: "events.k8s.io", resources: ["events"]}]
  - level: Metadata
    resources: [{group: "", resources: ["secrets", "serviceaccounts/token"]}, {group: "authentication.k8s.io", resources: ["tokenreviews"]}]
  - level: Metadata
    verbs: ["get", "list", "watch"]
    resources: [{group: "", resources: ["configmaps"]}]
  # status reports from nodes and namespace cleanup: the request is enough
  - level: Request
    userGroups: ["system:nodes"]
    verbs: ["update", "patch"]
    resources: [{group: "", resources: ["nodes/status", "pods/status"]}]
  - level: Request
    users: ["system:serviceaccount:kube-system:namespace-controller"]
    verbs: ["deletecollection"]
  # exec, attach, port-forward, proxy: no bodies to log
  - level: Request
    resources: [{group: "", resources: ["pods/exec", "pods/attach", "pods/portforward", "pods/log", "nodes/proxy", "services/proxy"]}]
  # health checks and discovery
  - level: Metadata
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version", "/api", "/api/*", "/apis", "/apis/*", "/openapi/*"]
  # reads: the request only
  - level: Request
    verbs: ["get", "list", "watch"]
  # every write with its object
  - level: RequestResponse
"""

INTEL_TXT = """# Threat-intelligence indicators for kdr's audit tests (format: INDICATOR CATEGORY).
# Documentation ranges only (RFC 5737). testdata/audit/cases/K8S_TI_Proxy.json assumes:
#   198.51.100.23  - a TOR exit node
#   203.0.113.0/28 - an open-proxy hosting range
198.51.100.23 proxy
203.0.113.0/28 proxy
"""

README_CASES = """# Kubernetes audit test data

Generated by `scripts/gen_audit.py` (Python 3.11, standard library, deterministic). Regenerate
everything with `python3 scripts/gen_audit.py all` from the repository root.

- `cases/<ALERT_ID>.json`: for every K8S_ control-plane alert, positive and negative sequences.
  Each sequence is replayed from empty state, in order; `expect_count` is how many alerts of that
  type it must raise; `reason_contains` lists substrings the alert's reason must contain;
  negatives must raise none of that type. Optional `notes` explain intent. Most events are
  `audit.k8s.io/v1` Events; `K8S_AbnormalMiActivity` uses Azure Activity Log and AWS CloudTrail
  records instead.
- `quiet-cluster.jsonl`: about two hours of an ordinary cluster (one Event per line, written in
  stageTimestamp order like a real log, so long watches have earlier requestReceivedTimestamp).
  Must raise no alert.
- `policy.yaml`: the audit policy that recording used.
- `intel-test.txt`: indicators assumed by `K8S_TI_Proxy.json` (pass with `--intel`).

Benchmark input is generated on demand: `python3 scripts/gen_audit.py bench --events 1000000 --out /tmp/bench.jsonl`.
"""


def write_jsonl(path, events):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for e in events:
            f.write(jdump(e) + "\n")
            n += 1
    return n


def case_json(doc):
    """Readable layout: one line per sequence attribute, one line per event."""
    out = ["{"]
    head = [k for k in doc if k not in ("positive", "negative")]
    for k in head:
        out.append(f" {json.dumps(k)}: {json.dumps(doc[k], ensure_ascii=False)},")
    for part in ("positive", "negative"):
        out.append(f' "{part}": [')
        seqs = doc[part]
        for i, s in enumerate(seqs):
            out.append("  {")
            for k in [k for k in s if k != "events"]:
                out.append(f"   {json.dumps(k)}: {json.dumps(s[k], ensure_ascii=False)},")
            out.append('   "events": [')
            evs = s["events"]
            for j, e in enumerate(evs):
                out.append("    " + jdump(e) + ("," if j < len(evs) - 1 else ""))
            out.append("   ]")
            out.append("  }" + ("," if i < len(seqs) - 1 else ""))
        out.append(" ]" + ("," if part == "positive" else ""))
    out.append("}")
    return "\n".join(out) + "\n"


def write_cases(d):
    os.makedirs(d, exist_ok=True)
    counts = {}
    for fn in ALL_CASES:
        doc = fn().doc()
        with open(os.path.join(d, f'{doc["alert"]}.json'), "w", encoding="utf-8") as f:
            f.write(case_json(doc))
        counts[doc["alert"]] = (len(doc["positive"]), len(doc["negative"]))
    return counts


def quiet_events(n=None, seed=7):
    sim = Sim(seed)
    if n is None:
        return stream(sim, hours=2)
    return stream(sim, max_events=n)


def bench_events(n, seed=11):
    sim = BenchSim(seed, start=utc(2025, 3, 24, 0, 0, 0) + sec(0.120443), workers=12, extra_apps=6, intensity=3.0)
    return stream(sim, max_events=n, inject=bench_injector(0.01))


# ---------------------------------------------------------------------------------------------
# Validation

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
AZ_TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
CT_TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ALLOWED_NETS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                                   "127.0.0.0/8", "::1/128", "2001:db8::/32")]
VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "post", "put", "head", "options"}
ALERT_IDS = ["K8S_ExposedPostgresTrustAuth", "K8S_ExposedPostgresBroadIPRange", "K8S_AbnormalMiActivity",
             "K8S_ServiceAccountRareOperation", "K8S_SensitiveMount", "K8S_CoreDnsModification", "K8S_AdmissionController",
             "K8S_MaliciousContainerImage", "K8S_ExposedKubeflow", "K8S_ExposedDashboard", "K8S_ExposedService", "K8S_ExposedRedis",
             "K8S_TI_Proxy", "K8S_DeleteEvents", "K8S_PenTestToolsKubeHunter", "K8S_KubeSystemContainer", "K8S_HighPrivilegesRole",
             "K8S_PrivilegedContainer", "K8S_ClusterAdminBinding", "K8S_SuspiciousServiceAccountOperation", "K8S_ContainerDiscovery",
             "K8S_ExcessiveApiRequests"]
NONRESOURCE_RE = re.compile(r"^/(healthz|livez|readyz|version|metrics|openapi/v[23])(/.*)?(\?.*)?$|^/apis?(/[a-z0-9.-]+(/v[0-9a-z]+)?)?(\?.*)?$|^/api/v1(\?.*)?$")


def ip_ok(s):
    try:
        a = ipaddress.ip_address(s)
    except ValueError:
        return False
    return any(a in n for n in ALLOWED_NETS)


def check_audit_event(e, where, errs):
    def err(msg):
        errs.append(f"{where}: {msg}")
    if not isinstance(e, dict):
        return err("not an object")
    for k in ("kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "sourceIPs", "responseStatus",
              "requestReceivedTimestamp", "stageTimestamp", "annotations"):
        if k not in e:
            err(f"missing {k}")
    if e.get("kind") != "Event" or e.get("apiVersion") != "audit.k8s.io/v1":
        err("kind/apiVersion")
    if e.get("stage") != "ResponseComplete":
        err("stage")
    lvl = e.get("level")
    if lvl not in ("Metadata", "Request", "RequestResponse"):
        err(f"level {lvl}")
    if lvl == "Metadata" and ("requestObject" in e or "responseObject" in e):
        err("Metadata level with a body")
    if lvl == "Request" and "responseObject" in e:
        err("Request level with a responseObject")
    if not UUID_RE.match(str(e.get("auditID", ""))):
        err("auditID")
    if e.get("verb") not in VERBS:
        err(f"verb {e.get('verb')}")
    u = e.get("user") or {}
    if not u.get("username") or not isinstance(u.get("groups", []), list):
        err("user")
    ips = e.get("sourceIPs")
    if not isinstance(ips, list) or not ips or not all(ip_ok(i) for i in ips):
        err(f"sourceIPs {ips}")
    rs = e.get("responseStatus") or {}
    code = rs.get("code")
    if not isinstance(code, int) or rs.get("metadata") != {}:
        err("responseStatus")
    elif code >= 400 and (rs.get("status") != "Failure" or not rs.get("reason") or not rs.get("message")):
        err("failure without status/reason/message")
    a, b = e.get("requestReceivedTimestamp", ""), e.get("stageTimestamp", "")
    if not TS_RE.match(a) or not TS_RE.match(b):
        err("timestamp format")
    elif a > b:
        err("requestReceivedTimestamp after stageTimestamp")
    ann = e.get("annotations") or {}
    if ann.get("authorization.k8s.io/decision") not in ("allow", "forbid") or "authorization.k8s.io/reason" not in ann:
        err("authorization annotations")
    uri = e.get("requestURI", "")
    if not uri.startswith("/"):
        err("requestURI")
    ref = e.get("objectRef")
    if ref is None:
        if not NONRESOURCE_RE.match(uri):
            err(f"resource request without objectRef: {uri}")
    else:
        if not ref.get("resource") or not ref.get("apiVersion"):
            err("objectRef")
        path = uri.split("?")[0]
        if ref["resource"] not in path.split("/"):
            err(f"objectRef.resource {ref['resource']} not in {path}")
        if ref.get("namespace") and f"/namespaces/{ref['namespace']}/" not in path + "/":
            err("objectRef.namespace not in requestURI")
    ro, rp = e.get("requestObject"), e.get("responseObject")
    if e.get("verb") == "create" and isinstance(ro, dict) and isinstance(rp, dict) and code and code < 300:
        if ro.get("kind") not in (rp.get("kind"), "Binding") and rp.get("kind") != "Status":
            err("request/response kinds differ")
    if isinstance(rp, dict) and rp.get("kind") not in ("Status",) and "metadata" in rp and e.get("verb") in ("create", "update", "patch"):
        md = rp["metadata"]
        if code and code < 300 and not (md.get("uid") and md.get("resourceVersion")):
            if rp.get("kind") not in ("SelfSubjectRulesReview",):
                err("stored object without uid/resourceVersion")


def check_cloud_record(r, where, errs):
    def err(msg):
        errs.append(f"{where}: {msg}")
    if "operationName" in r:
        for k in ("time", "resourceId", "operationName", "category", "resultType", "caller", "callerIpAddress", "correlationId",
                  "identity", "properties"):
            if k not in r:
                err(f"azure record missing {k}")
        if not AZ_TS_RE.match(r.get("time", "")):
            err("azure time format")
        cl = r.get("identity", {}).get("claims", {})
        if "http://schemas.microsoft.com/identity/claims/objectidentifier" not in cl or "idtyp" not in cl or "appid" not in cl:
            err("azure claims")
        if r.get("category") != "Administrative":
            err("category")
        if not ip_ok(r.get("callerIpAddress", "")):
            err("callerIpAddress")
        return parse_any_ts(r["time"])
    if "eventVersion" in r:
        for k in ("userIdentity", "eventTime", "eventSource", "eventName", "sourceIPAddress", "userAgent", "requestParameters",
                  "responseElements", "eventID", "eventType"):
            if k not in r:
                err(f"cloudtrail record missing {k}")
        ui = r.get("userIdentity", {})
        if ui.get("type") != "AssumedRole" or not ui.get("arn") or not ui.get("principalId") or "sessionContext" not in ui:
            err("userIdentity")
        if r.get("eventType") != "AwsApiCall" or not CT_TS_RE.match(r.get("eventTime", "")):
            err("eventType/eventTime")
        if not ip_ok(r.get("sourceIPAddress", "")):
            err("sourceIPAddress")
        return parse_any_ts(r["eventTime"])
    err("neither an Azure Activity Log nor a CloudTrail record")
    return None


def parse_any_ts(s):
    s = s.rstrip("Z")
    if "." in s:
        main, frac = s.split(".")
        s = main + "." + frac[:6]
        return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f")
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S")


def check_sequence(events, where, errs, strict_received=True, cloud=False):
    last_stage = last_recv = last_cloud = None
    ids = set()
    for i, e in enumerate(events):
        w = f"{where}[{i}]"
        if cloud:
            t = check_cloud_record(e, w, errs)
            if t is not None and last_cloud is not None and t < last_cloud:
                errs.append(f"{w}: record time goes backwards")
            last_cloud = t or last_cloud
            continue
        check_audit_event(e, w, errs)
        aid = e.get("auditID")
        if aid in ids:
            errs.append(f"{w}: duplicate auditID")
        ids.add(aid)
        st, rr = e.get("stageTimestamp", ""), e.get("requestReceivedTimestamp", "")
        if last_stage is not None and st < last_stage:
            errs.append(f"{w}: stageTimestamp goes backwards")
        if strict_received and last_recv is not None and rr < last_recv:
            errs.append(f"{w}: requestReceivedTimestamp goes backwards")
        last_stage, last_recv = st, rr


def validate(root="."):
    errs = []
    report = {}
    cdir = os.path.join(root, "testdata/audit/cases")
    found = sorted(f[:-5] for f in os.listdir(cdir) if f.endswith(".json"))
    missing = [a for a in ALERT_IDS if a not in found]
    if missing:
        errs.append(f"cases missing for {missing}")
    for alert in found:
        path = os.path.join(cdir, alert + ".json")
        try:
            doc = json.load(open(path, encoding="utf-8"))
        except ValueError as ex:
            errs.append(f"{path}: {ex}")
            continue
        if doc.get("alert") != alert:
            errs.append(f"{path}: alert {doc.get('alert')} does not match the file name")
        pos, neg = doc.get("positive"), doc.get("negative")
        if not isinstance(pos, list) or len(pos) < 2:
            errs.append(f"{path}: fewer than 2 positives")
        if not isinstance(neg, list) or len(neg) < 3:
            errs.append(f"{path}: fewer than 3 negatives")
        names = set()
        for kind, seqs in (("positive", pos or []), ("negative", neg or [])):
            for j, s in enumerate(seqs):
                w = f"{alert}.{kind}[{j}] {s.get('name')!r}"
                if not s.get("name") or not isinstance(s.get("events"), list) or not s["events"]:
                    errs.append(f"{w}: name/events")
                    continue
                if s["name"] in names:
                    errs.append(f"{w}: duplicate name")
                names.add(s["name"])
                if kind == "positive":
                    if not isinstance(s.get("expect_count"), int) or s["expect_count"] < 1:
                        errs.append(f"{w}: expect_count")
                    if not isinstance(s.get("reason_contains"), list) or not all(isinstance(x, str) and x for x in s["reason_contains"]):
                        errs.append(f"{w}: reason_contains")
                    else:
                        blob = jdump(s["events"])
                        for x in s["reason_contains"]:
                            if x not in blob and jdump(x)[1:-1] not in blob:
                                errs.append(f"{w}: reason substring {x!r} appears in no event")
                check_sequence(s["events"], w, errs, strict_received=True, cloud=(alert == "K8S_AbnormalMiActivity"))
        report[alert] = (len(pos or []), len(neg or []), sum(len(s.get("events", [])) for s in (pos or []) + (neg or [])))
    for rel, strict in (("testdata/audit/quiet-cluster.jsonl", False), ("examples/attack.jsonl", True)):
        path = os.path.join(root, rel)
        if not os.path.exists(path):
            errs.append(f"{rel}: missing")
            continue
        evs = []
        with open(path, encoding="utf-8") as f:
            for ln, line in enumerate(f, 1):
                try:
                    evs.append(json.loads(line))
                except ValueError as ex:
                    errs.append(f"{rel}:{ln}: {ex}")
        check_sequence(evs, rel, errs, strict_received=strict)
        if rel.startswith("testdata"):
            listed = [ipaddress.ip_address(TI_PROXY_IP)]
            net = ipaddress.ip_network(TI_PROXY_NET)
            for i, e in enumerate(evs):
                for s in e.get("sourceIPs", []):
                    a = ipaddress.ip_address(s)
                    if a in listed or a in net:
                        errs.append(f"{rel}[{i}]: quiet stream uses an intel-listed address {s}")
        span = (parse_ts(evs[-1]["stageTimestamp"]) - parse_ts(evs[0]["stageTimestamp"])).total_seconds() if evs else 0
        report[rel] = (len(evs), round(span / 60, 1))
    for rel in ("testdata/audit/intel-test.txt", "testdata/audit/policy.yaml", "examples/README.md"):
        if not os.path.exists(os.path.join(root, rel)):
            errs.append(f"{rel}: missing")
    return errs, report


# ---------------------------------------------------------------------------------------------
# CLI


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quiet", help="routine cluster traffic that must raise no alert")
    q.add_argument("--out", required=True)
    q.add_argument("--events", type=int, default=None, help="number of events (default: two hours of traffic)")
    q.add_argument("--seed", type=int, default=7)
    b = sub.add_parser("bench", help="benchmark mix: routine traffic plus ~1%% alerting events")
    b.add_argument("--events", type=int, required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--seed", type=int, default=11)
    cs = sub.add_parser("cases", help="write testdata/audit/cases/*.json")
    cs.add_argument("--dir", default=None)
    at = sub.add_parser("attack", help="write the attack recording")
    at.add_argument("--out", default=None)
    v = sub.add_parser("validate", help="check every generated file")
    v.add_argument("--root", default=None)
    sub.add_parser("all", help="cases, quiet stream, attack recording, policy and intel files, then validate")
    a = ap.parse_args(argv)
    root = repo_root()

    if a.cmd == "quiet":
        n = write_jsonl(a.out, quiet_events(a.events, a.seed))
        print(f"{a.out}: {n} events", file=sys.stderr)
    elif a.cmd == "bench":
        sim = BenchSim(a.seed, start=utc(2025, 3, 24, 0, 0, 0) + sec(0.120443), workers=12, extra_apps=6, intensity=3.0)
        n = write_jsonl(a.out, stream(sim, max_events=a.events, inject=bench_injector(0.01)))
        print(f"{a.out}: {n} events", file=sys.stderr)
    elif a.cmd == "cases":
        counts = write_cases(a.dir or os.path.join(root, "testdata/audit/cases"))
        for k, (p, n) in counts.items():
            print(f"{k}: {p} positive, {n} negative", file=sys.stderr)
    elif a.cmd == "attack":
        n = write_jsonl(a.out or os.path.join(root, "examples/attack.jsonl"), attack())
        print(f"attack: {n} events", file=sys.stderr)
    elif a.cmd in ("validate", "all"):
        if a.cmd == "all":
            base = os.path.join(root, "testdata/audit")
            os.makedirs(base, exist_ok=True)
            write_cases(os.path.join(base, "cases"))
            write_jsonl(os.path.join(base, "quiet-cluster.jsonl"), quiet_events())
            write_jsonl(os.path.join(root, "examples/attack.jsonl"), attack())
            for name, text in (("policy.yaml", POLICY_YAML), ("intel-test.txt", INTEL_TXT), ("README.md", README_CASES)):
                with open(os.path.join(base, name), "w", encoding="utf-8") as f:
                    f.write(text)
        errs, report = validate(getattr(a, "root", None) or root)
        for k, v_ in report.items():
            print(f"{k}: {v_}", file=sys.stderr)
        for e in errs[:200]:
            print("ERROR", e, file=sys.stderr)
        if errs:
            print(f"{len(errs)} problems", file=sys.stderr)
            return 1
        print("all files valid", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
