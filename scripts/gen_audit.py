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
        c = Cluster(seed, start or CASE_START + sec(seed % 5000))
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
    cs.pos(c, reason=[name, "host-root"])

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
    c.seed(dep)
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
