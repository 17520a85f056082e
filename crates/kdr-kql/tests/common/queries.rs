//! Queries shared by the SQLite and PostgreSQL tests, with their expected row counts.

/// Queries whose row order KQL leaves unspecified, with the number of rows they must return
/// (so that a query matching nothing on both sides cannot pass unnoticed).
pub const UNORDERED: &[(&str, usize)] = &[
    // where, comparisons, string operators
    (r#"CloudProcessEvents | where ProcessName == "curl""#, 1),
    (r#"CloudProcessEvents | where ProcessName != "curl""#, 14),
    (r#"CloudProcessEvents | where ProcessName =~ "CURL""#, 2),
    (r#"CloudProcessEvents | where ProcessName !~ "curl""#, 13),
    (
        r#"CloudProcessEvents | where ProcessCommandLine has "curl""#,
        3,
    ),
    (
        r#"CloudProcessEvents | where ProcessCommandLine !has "curl""#,
        12,
    ),
    (
        r#"CloudProcessEvents | where ProcessCommandLine has "10.0.0.0/24""#,
        1,
    ),
    (
        r#"CloudProcessEvents | where ProcessCommandLine has "xmrig""#,
        2,
    ),
    (
        r#"CloudProcessEvents | where ProcessCommandLine contains "curl""#,
        3,
    ),
    (
        r#"CloudProcessEvents | where ProcessCommandLine !contains "CURL""#,
        12,
    ),
    (
        r#"CloudProcessEvents | where FolderPath startswith "/USR/""#,
        8,
    ),
    (
        r#"CloudProcessEvents | where FolderPath !startswith "/usr/""#,
        7,
    ),
    (
        r#"CloudProcessEvents | where FolderPath endswith "/CURL""#,
        2,
    ),
    (
        r#"CloudProcessEvents | where FolderPath !endswith "sh""#,
        13,
    ),
    (
        r#"CloudProcessEvents | where ProcessName in ("curl", "wget", "CURL")"#,
        3,
    ),
    (
        r#"CloudProcessEvents | where ProcessName !in ("curl", "wget")"#,
        13,
    ),
    (
        r#"CloudProcessEvents | where ProcessName in~ ("curl", "WGET")"#,
        3,
    ),
    (
        r#"CloudProcessEvents | where ProcessName !in~ ("curl")"#,
        13,
    ),
    (r#"CloudProcessEvents | where ProcessId in (4101, 4102)"#, 2),
    (
        r#"CloudProcessEvents | where ProcessId between (4100 .. 4105)"#,
        5,
    ),
    (
        r#"CloudProcessEvents | where ProcessId !between (4100 .. 4105)"#,
        10,
    ),
    (
        r#"CloudProcessEvents | where Timestamp between (datetime(2024-05-01T10:00:00Z) .. 5m)"#,
        5,
    ),
    (
        r#"CloudProcessEvents | where ProcessCommandLine matches regex @"https?://[0-9.]+/""#,
        1,
    ),
    (
        r#"CloudProcessEvents | where ProcessCommandLine matches regex "^/tmp/\\w+""#,
        1,
    ),
    (
        r#"CloudProcessEvents | where ProcessId > 5000 and ProcessId <= 8001"#,
        4,
    ),
    (
        r#"CloudProcessEvents | where ProcessId < 4103 or ProcessName == "go""#,
        4,
    ),
    (
        r#"CloudProcessEvents | where not(ProcessName == "bash")"#,
        14,
    ),
    (
        r#"CloudProcessEvents | where InitiatingProcessId >= 4101"#,
        9,
    ),
    (
        r#"CloudProcessEvents | where not(InitiatingProcessId >= 4101)"#,
        1,
    ),
    (
        r#"CloudProcessEvents | where isnull(InitiatingProcessId)"#,
        5,
    ),
    (
        r#"CloudProcessEvents | where isnotnull(InitiatingProcessId)"#,
        10,
    ),
    (
        r#"CloudProcessEvents | where ProcessId % 2 == 0 and ProcessId * 2 - 1 > 8000"#,
        5,
    ),
    (r#"CloudProcessEvents | where ProcessId / 1000 == 4"#, 7),
    (r#"CloudAuditEvents | where IsAnonymousProxy"#, 3),
    (r#"CloudAuditEvents | where IsAnonymousProxy == false"#, 6),
    (r#"CloudAuditEvents | where isempty(CountryCode)"#, 5),
    (r#"CloudAuditEvents | where isnotempty(City)"#, 4),
    // time
    (r#"CloudProcessEvents | where Timestamp > ago(1h)"#, 3),
    (r#"CloudProcessEvents | where Timestamp < now() - 90m"#, 10),
    (
        r#"CloudProcessEvents | where Timestamp >= datetime("2024-05-01 10:40:00")"#,
        5,
    ),
    (
        r#"CloudProcessEvents | where Timestamp - ProcessCreationTime == 1ms"#,
        14,
    ),
    (
        r#"CloudProcessEvents | where Timestamp - ProcessCreationTime < 100ms"#,
        14,
    ),
    (
        r#"CloudProcessEvents | where Timestamp - ProcessCreationTime > 500ms"#,
        1,
    ),
    (
        r#"CloudProcessEvents | extend Age = now() - Timestamp | where Age < 2h and Age > 30s | project ProcessName, Age"#,
        14,
    ),
    (
        r#"CloudProcessEvents | extend Window = bin(Timestamp, 1h) | project ProcessName, Window"#,
        15,
    ),
    (
        r#"CloudProcessEvents | project ProcessId, Bucket = bin(ProcessId, 1000), Span = bin(Timestamp - ProcessCreationTime, 1s)"#,
        15,
    ),
    (
        r#"CloudProcessEvents | where ProcessName == "true" | project Minute = bin(Timestamp, 1m), Timestamp"#,
        1,
    ),
    // let
    (
        r#"let window = 30m; let tool = "nmap"; CloudProcessEvents | where Timestamp > ago(window) or ProcessName == tool"#,
        2,
    ),
    (
        r#"let since = datetime(2024-05-01T10:10:00Z); let until = since + 1h; CloudProcessEvents | where Timestamp between (since .. until)"#,
        5,
    ),
    (
        r#"let shop = CloudProcessEvents | where KubernetesNamespace == "shop"; shop | count"#,
        1,
    ),
    // project, extend, project-away
    (
        r#"CloudProcessEvents | project KubernetesPodName, ProcessName, Cmd = ProcessCommandLine"#,
        15,
    ),
    (
        r#"CloudProcessEvents | project-away AdditionalFields, ProcessCommandLine, LogonId"#,
        15,
    ),
    (
        r#"CloudProcessEvents | extend Lower = tolower(ProcessName), Upper = toupper(ProcessName), Length = strlen(ProcessCommandLine) | project Lower, Upper, Length"#,
        15,
    ),
    (
        r#"CloudProcessEvents | extend Doubled = ProcessId * 2, Doubled = Doubled + 1 | project ProcessId, Doubled"#,
        15,
    ),
    (
        r#"CloudProcessEvents | extend strlen(ProcessName), Tag = strcat(ProcessName, "@", KubernetesPodName, "/", ProcessId) | project Column1, Tag"#,
        15,
    ),
    (
        r#"CloudProcessEvents | extend Ratio = ProcessId / 3.0, Parsed = tolong("42"), Bad = toint("4x2"), Trunc = tolong(2.9), FromBool = tolong(true) | project Ratio, Parsed, Bad, Trunc, FromBool"#,
        15,
    ),
    (
        r#"CloudProcessEvents | project AsText = tostring(ProcessId), Flag = tostring(ProcessId > 5000), Pid = tolong(tostring(ProcessId))"#,
        15,
    ),
    (
        r#"CloudProcessEvents | project Unicode = toupper(tostring(AdditionalFields.Note)), Lower = tolower("ÄÖÜ")"#,
        15,
    ),
    // dynamic
    (
        r#"CloudProcessEvents | project Args = AdditionalFields.Args, First = AdditionalFields.Args[0], Last = AdditionalFields["Args"][-1], Drift = AdditionalFields.Drift"#,
        15,
    ),
    (
        r#"CloudProcessEvents | where AdditionalFields.Drift == true | project ProcessName"#,
        1,
    ),
    (
        r#"CloudProcessEvents | where AdditionalFields.Tool =~ "nmap" | project ProcessName"#,
        1,
    ),
    (
        r#"CloudProcessEvents | where AdditionalFields.Args[0] == "-s""#,
        1,
    ),
    (
        r#"CloudProcessEvents | where isempty(AdditionalFields.Args)"#,
        3,
    ),
    (r#"CloudProcessEvents | where isnull(AdditionalFields)"#, 1),
    (
        r#"CloudAuditEvents | where RawEventData.objectRef.resource == "secrets" | project RawEventData.verb, RawEventData.user.username"#,
        2,
    ),
    (
        r#"CloudAuditEvents | where RawEventData["user"]["username"] startswith "system:serviceaccount:" | project ReportId"#,
        4,
    ),
    (
        r#"CloudAuditEvents | where RawEventData.responseStatus.code == 403"#,
        1,
    ),
    (
        r#"CloudAuditEvents | where RawEventData.responseStatus.code >= 200 and RawEventData.responseStatus.code < 300 | project ReportId, Code = toint(RawEventData.responseStatus.code)"#,
        7,
    ),
    (
        r#"CloudAuditEvents | where RawEventData.requestObject.spec.containers[0].securityContext.privileged == true | project ReportId"#,
        1,
    ),
    (
        r#"CloudAuditEvents | where RawEventData.user.groups has "system:nodes" | project ReportId"#,
        1,
    ),
    (
        r#"CloudAuditEvents | where tostring(RawEventData.sourceIPs) contains "198.51." | project ReportId"#,
        3,
    ),
    (
        r#"CloudAuditEvents | project ReportId, Raw = parse_json(tostring(RawEventData.objectRef)).name, Num = parse_json("[1,2]")[1]"#,
        9,
    ),
    (
        r#"CloudAuditEvents | project ReportId, Code = RawEventData.responseStatus.code + 1, Half = RawEventData.responseStatus.code / 2"#,
        9,
    ),
    // mv-expand
    (
        r#"CloudAuditEvents | mv-expand Subject = RawEventData.requestObject.subjects | project ReportId, Subject"#,
        10,
    ),
    (
        r#"CloudAuditEvents | where ReportId == "a4" | mv-expand Subject = RawEventData.requestObject.subjects | project Kind = tostring(Subject.kind), Name = tostring(Subject.name)"#,
        2,
    ),
    (
        r#"CloudAuditEvents | mv-expand Container = RawEventData.requestObject.spec.containers | where isnotempty(Container) | project ReportId, Image = tostring(Container.image)"#,
        2,
    ),
    (
        r#"CloudProcessEvents | mv-expand AdditionalFields | project ProcessId, AdditionalFields"#,
        17,
    ),
    (
        r#"CloudAuditEvents | mv-expand Group = RawEventData.user.groups | summarize Events = dcount(ReportId) by Group = tostring(Group)"#,
        5,
    ),
    (
        r#"CloudAuditEvents | mv-expand Annotation = RawEventData.annotations | project ReportId, Annotation"#,
        9,
    ),
    // summarize
    (
        r#"CloudProcessEvents | where ProcessCommandLine has "curl" | summarize count() by ContainerImageName"#,
        3,
    ),
    (
        r#"CloudProcessEvents | summarize count(), dcount(ProcessName), sum(ProcessId), avg(ProcessId), min(Timestamp), max(Timestamp) by KubernetesNamespace"#,
        6,
    ),
    (
        r#"CloudProcessEvents | summarize make_set(ProcessName), make_set(ProcessId) by NodeName"#,
        4,
    ),
    (
        r#"CloudProcessEvents | summarize count() by bin(Timestamp, 1h)"#,
        3,
    ),
    (
        r#"CloudProcessEvents | summarize count() by Hour = bin(Timestamp, 1h), KubernetesNamespace"#,
        7,
    ),
    (
        r#"CloudProcessEvents | summarize Events = count(), Shells = countif(ProcessName in ("bash", "sh"))"#,
        1,
    ),
    (
        r#"CloudProcessEvents | where ProcessName == "nothing" | summarize count(), sum(ProcessId)"#,
        1,
    ),
    (
        r#"CloudProcessEvents | summarize arg_max(Timestamp, ProcessName, ProcessCommandLine) by KubernetesPodName"#,
        7,
    ),
    (
        r#"CloudProcessEvents | summarize arg_max(Timestamp, *) by KubernetesPodName | project KubernetesPodName, Timestamp, ProcessName, AdditionalFields"#,
        7,
    ),
    (
        r#"CloudProcessEvents | summarize arg_min(ProcessId, ProcessName) by NodeName"#,
        4,
    ),
    (
        r#"CloudAuditEvents | summarize make_set(RawEventData.user.username), Verbs = dcount(tostring(RawEventData.verb)) by ResourceKind = tostring(RawEventData.objectRef.resource)"#,
        5,
    ),
    (
        r#"CloudAuditEvents | summarize count() by RawEventData.verb"#,
        6,
    ),
    (
        r#"CloudProcessEvents | summarize Total = sum(Timestamp - ProcessCreationTime), Longest = max(Timestamp - ProcessCreationTime) by NodeName"#,
        4,
    ),
    // distinct, count
    (
        r#"CloudProcessEvents | distinct KubernetesNamespace, NodeName"#,
        7,
    ),
    (
        r#"CloudProcessEvents | project ContainerImageName | distinct *"#,
        5,
    ),
    (r#"CloudAuditEvents | count"#, 1),
    // join
    (
        r#"CloudProcessEvents | where ProcessName in ("curl", "bash") | join kind=inner (CloudAuditEvents | extend KubernetesPodName = tostring(RawEventData.objectRef.name)) on KubernetesPodName | project KubernetesPodName, ProcessName, ReportId, Verb = tostring(RawEventData.verb)"#,
        2,
    ),
    (
        r#"CloudProcessEvents | join kind=leftouter (CloudAuditEvents | project Pod = tostring(RawEventData.objectRef.name), ReportId, Timestamp) on $left.KubernetesPodName == $right.Pod | project ProcessId, Pod, ReportId, Timestamp, Timestamp1"#,
        15,
    ),
    (
        r#"CloudAuditEvents | project Pod = tostring(RawEventData.objectRef.name), ReportId | join (CloudProcessEvents | project Pod = KubernetesPodName, ProcessName) on Pod | project Pod, Pod1, ProcessName"#,
        9,
    ),
    (
        r#"CloudAuditEvents | project Pod = tostring(RawEventData.objectRef.name), ReportId | join kind=innerunique (CloudProcessEvents | project Pod = KubernetesPodName, ProcessName) on Pod | summarize count() by Pod"#,
        3,
    ),
    // union
    (
        r#"union CloudProcessEvents, CloudAuditEvents | summarize count() by ClusterName"#,
        1,
    ),
    (
        r#"CloudProcessEvents | project Timestamp, What = ProcessCommandLine | union (CloudAuditEvents | project Timestamp, What = OperationName, IPAddress)"#,
        24,
    ),
    (
        r#"union (CloudProcessEvents | where ProcessName == "curl" | project Timestamp, ProcessName), (CloudAuditEvents | where ReportId == "a1" | project Timestamp, ReportId)"#,
        2,
    ),
];

/// Queries with a defined row order (sort, top), compared in order.
pub const ORDERED: &[(&str, usize)] = &[
    (
        r#"CloudProcessEvents | sort by Timestamp | project Timestamp, ProcessName"#,
        15,
    ),
    (
        r#"CloudProcessEvents | order by Timestamp asc | project Timestamp, ProcessName"#,
        15,
    ),
    (
        r#"CloudProcessEvents | sort by KubernetesNamespace asc, Timestamp desc | project KubernetesNamespace, Timestamp"#,
        15,
    ),
    (
        r#"CloudProcessEvents | sort by InitiatingProcessId asc, ProcessId asc | project InitiatingProcessId, ProcessId"#,
        15,
    ),
    (
        r#"CloudProcessEvents | sort by InitiatingProcessId, ProcessId | project InitiatingProcessId, ProcessId"#,
        15,
    ),
    (
        r#"CloudProcessEvents | sort by InitiatingProcessId asc nulls last, ProcessId | project InitiatingProcessId, ProcessId"#,
        15,
    ),
    (
        r#"CloudProcessEvents | sort by ProcessName asc | where ProcessId > 4000 | project ProcessName, ProcessId | take 5"#,
        5,
    ),
    (
        r#"CloudProcessEvents | top 3 by Timestamp | project ProcessName"#,
        3,
    ),
    (
        r#"CloudProcessEvents | top 4 by ProcessId asc | extend Next = ProcessId + 1 | project ProcessId, Next"#,
        4,
    ),
    (
        r#"CloudProcessEvents | summarize Events = count() by KubernetesPodName | top 1 by Events"#,
        1,
    ),
    (
        r#"CloudProcessEvents | where ProcessName == "nmap" | take 10"#,
        1,
    ),
    (
        r#"let n = 2; CloudAuditEvents | sort by Timestamp asc | take n | project ReportId"#,
        2,
    ),
];
