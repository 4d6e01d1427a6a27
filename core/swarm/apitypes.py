"""The swarm API's types, field for field as the Engine API (v1.41) declares them, for :mod:`berth.swarm.gojson`.

Field order is the order dockerd writes them in; ``omitempty`` marks the fields it
leaves out when they hold their zero value.
"""

from __future__ import annotations

from berth.swarm.gojson import (ANY, BOOL, BYTES, DURATION, FILEMODE, FLOAT32, INT, INT64, STRING, TIME, UINT32,
                                UINT64, Field as F, Map, Ptr, Slice, Struct)

STRINGS = Slice(STRING)
LABELS = Map(STRING)

Version = Struct("Version", [F("Index", UINT64, True)])
Meta = Struct("Meta", [F("Version", Version, True), F("CreatedAt", TIME, True), F("UpdatedAt", TIME, True)])
Annotations = Struct("Annotations", [F("Name", STRING, True), F("Labels", LABELS)])
Driver = Struct("Driver", [F("Name", STRING, True), F("Options", LABELS, True)])
TLSInfo = Struct("TLSInfo", [F("TrustRoot", STRING, True), F("CertIssuerSubject", BYTES, True),
                             F("CertIssuerPublicKey", BYTES, True)])

# ---- the swarm itself -------------------------------------------------------

ExternalCA = Struct("ExternalCA", [F("Protocol", STRING), F("URL", STRING), F("Options", LABELS, True),
                                   F("CACert", STRING)])
SwarmSpec = Struct("Spec", [
    F("Annotations", Annotations, embedded=True),
    F("Orchestration", Struct("OrchestrationConfig", [F("TaskHistoryRetentionLimit", Ptr(INT64), True)]), True),
    F("Raft", Struct("RaftConfig", [F("SnapshotInterval", UINT64, True), F("KeepOldSnapshots", Ptr(UINT64), True),
                                    F("LogEntriesForSlowFollowers", UINT64, True), F("ElectionTick", INT),
                                    F("HeartbeatTick", INT)]), True),
    F("Dispatcher", Struct("DispatcherConfig", [F("HeartbeatPeriod", DURATION, True)]), True),
    F("CAConfig", Struct("CAConfig", [F("NodeCertExpiry", DURATION, True),
                                      F("ExternalCAs", Slice(Ptr(ExternalCA)), True),
                                      F("SigningCACert", STRING, True), F("SigningCAKey", STRING, True),
                                      F("ForceRotate", UINT64, True)]), True),
    F("TaskDefaults", Struct("TaskDefaults", [F("LogDriver", Ptr(Driver), True)]), True),
    F("EncryptionConfig", Struct("EncryptionConfig", [F("AutoLockManagers", BOOL)]), True),
])
ClusterInfo = Struct("ClusterInfo", [
    F("ID", STRING), F("Meta", Meta, embedded=True), F("Spec", SwarmSpec), F("TLSInfo", TLSInfo),
    F("RootRotationInProgress", BOOL), F("DefaultAddrPool", STRINGS), F("SubnetSize", UINT32),
    F("DataPathPort", UINT32),
])
Swarm = Struct("Swarm", [F("ClusterInfo", ClusterInfo, embedded=True),
                         F("JoinTokens", Struct("JoinTokens", [F("Worker", STRING), F("Manager", STRING)]))])
InitRequest = Struct("InitRequest", [
    F("ListenAddr", STRING), F("AdvertiseAddr", STRING), F("DataPathAddr", STRING), F("DataPathPort", UINT32),
    F("ForceNewCluster", BOOL), F("Spec", SwarmSpec), F("AutoLockManagers", BOOL), F("Availability", STRING),
    F("DefaultAddrPool", STRINGS), F("SubnetSize", UINT32),
])
JoinRequest = Struct("JoinRequest", [
    F("ListenAddr", STRING), F("AdvertiseAddr", STRING), F("DataPathAddr", STRING), F("RemoteAddrs", STRINGS),
    F("JoinToken", STRING), F("Availability", STRING),
])
UnlockRequest = Struct("UnlockRequest", [F("UnlockKey", STRING)])
Peer = Struct("Peer", [F("NodeID", STRING), F("Addr", STRING)])
SwarmInfo = Struct("Info", [
    F("NodeID", STRING), F("NodeAddr", STRING), F("LocalNodeState", STRING), F("ControlAvailable", BOOL),
    F("Error", STRING), F("RemoteManagers", Slice(Peer)), F("Nodes", INT, True), F("Managers", INT, True),
    F("Cluster", Ptr(ClusterInfo), True), F("Warnings", STRINGS, True),
])

# ---- nodes ------------------------------------------------------------------

Platform = Struct("Platform", [F("Architecture", STRING, True), F("OS", STRING, True)])
GenericResource = Struct("GenericResource", [
    F("NamedResourceSpec", Ptr(Struct("NamedGenericResource", [F("Kind", STRING, True), F("Value", STRING, True)])),
      True),
    F("DiscreteResourceSpec", Ptr(Struct("DiscreteGenericResource", [F("Kind", STRING, True),
                                                                    F("Value", INT64, True)])), True),
])
Resources = Struct("Resources", [F("NanoCPUs", INT64, True), F("MemoryBytes", INT64, True),
                                 F("GenericResources", Slice(GenericResource), True)])
NodeSpec = Struct("NodeSpec", [F("Annotations", Annotations, embedded=True), F("Role", STRING, True),
                               F("Availability", STRING, True)])
Node = Struct("Node", [
    F("ID", STRING), F("Meta", Meta, embedded=True), F("Spec", NodeSpec, True),
    F("Description", Struct("NodeDescription", [
        F("Hostname", STRING, True), F("Platform", Platform, True), F("Resources", Resources, True),
        F("Engine", Struct("EngineDescription", [
            F("EngineVersion", STRING, True), F("Labels", LABELS, True),
            F("Plugins", Slice(Struct("PluginDescription", [F("Type", STRING, True), F("Name", STRING, True)])),
              True)]), True),
        F("TLSInfo", TLSInfo, True)]), True),
    F("Status", Struct("NodeStatus", [F("State", STRING, True), F("Message", STRING, True),
                                      F("Addr", STRING, True)]), True),
    F("ManagerStatus", Ptr(Struct("ManagerStatus", [F("Leader", BOOL, True), F("Reachability", STRING, True),
                                                    F("Addr", STRING, True)])), True),
])

# ---- secrets and configs ----------------------------------------------------

SecretSpec = Struct("SecretSpec", [F("Annotations", Annotations, embedded=True), F("Data", BYTES, True),
                                   F("Driver", Ptr(Driver), True), F("Templating", Ptr(Driver), True)])
Secret = Struct("Secret", [F("ID", STRING), F("Meta", Meta, embedded=True), F("Spec", SecretSpec)])
ConfigSpec = Struct("ConfigSpec", [F("Annotations", Annotations, embedded=True), F("Data", BYTES, True),
                                   F("Templating", Ptr(Driver), True)])
Config = Struct("Config", [F("ID", STRING), F("Meta", Meta, embedded=True), F("Spec", ConfigSpec)])

# ---- services and tasks -----------------------------------------------------

FileTarget = Struct("SecretReferenceFileTarget", [F("Name", STRING), F("UID", STRING), F("GID", STRING),
                                                  F("Mode", FILEMODE)])
SecretReference = Struct("SecretReference", [F("File", Ptr(FileTarget)), F("SecretID", STRING),
                                             F("SecretName", STRING)])
ConfigReference = Struct("ConfigReference", [
    F("File", Ptr(FileTarget), True), F("Runtime", Ptr(Struct("ConfigReferenceRuntimeTarget", [])), True),
    F("ConfigID", STRING), F("ConfigName", STRING),
])
Mount = Struct("Mount", [
    F("Type", STRING, True), F("Source", STRING, True), F("Target", STRING, True), F("ReadOnly", BOOL, True),
    F("Consistency", STRING, True),
    F("BindOptions", Ptr(Struct("BindOptions", [
        F("Propagation", STRING, True), F("NonRecursive", BOOL, True), F("CreateMountpoint", BOOL, True),
        F("ReadOnlyNonRecursive", BOOL, True), F("ReadOnlyForceRecursive", BOOL, True)])), True),
    F("VolumeOptions", Ptr(Struct("VolumeOptions", [F("NoCopy", BOOL, True), F("Labels", LABELS, True),
                                                    F("Subpath", STRING, True),
                                                    F("DriverConfig", Ptr(Driver), True)])), True),
    F("TmpfsOptions", Ptr(Struct("TmpfsOptions", [F("SizeBytes", INT64, True), F("Mode", FILEMODE, True)])), True),
])
HealthConfig = Struct("HealthConfig", [F("Test", STRINGS, True), F("Interval", DURATION, True),
                                       F("Timeout", DURATION, True), F("StartPeriod", DURATION, True),
                                       F("Retries", INT, True)])
ContainerSpec = Struct("ContainerSpec", [
    F("Image", STRING, True), F("Labels", LABELS, True), F("Command", STRINGS, True), F("Args", STRINGS, True),
    F("Hostname", STRING, True), F("Env", STRINGS, True), F("Dir", STRING, True), F("User", STRING, True),
    F("Groups", STRINGS, True),
    F("Privileges", Ptr(Struct("Privileges", [
        F("CredentialSpec", Ptr(Struct("CredentialSpec", [F("Config", STRING), F("File", STRING),
                                                          F("Registry", STRING)]))),
        F("SELinuxContext", Ptr(Struct("SELinuxContext", [F("Disable", BOOL), F("User", STRING), F("Role", STRING),
                                                          F("Type", STRING), F("Level", STRING)]))),
        # API 1.44; dockerd 25+ always shows NoNewPrivileges, 20.10 (API 1.41) never: shown when set
        F("Seccomp", Ptr(Struct("SeccompOpts", [F("Mode", STRING, True), F("Profile", BYTES, True)])), True),
        F("AppArmor", Ptr(Struct("AppArmorOpts", [F("Mode", STRING, True)])), True),
        F("NoNewPrivileges", BOOL, True)])), True),
    F("Init", Ptr(BOOL), True), F("StopSignal", STRING, True), F("TTY", BOOL, True), F("OpenStdin", BOOL, True),
    F("ReadOnly", BOOL, True), F("Mounts", Slice(Mount), True), F("StopGracePeriod", Ptr(DURATION), True),
    F("Healthcheck", Ptr(HealthConfig), True), F("Hosts", STRINGS, True),
    F("DNSConfig", Ptr(Struct("DNSConfig", [F("Nameservers", STRINGS, True), F("Search", STRINGS, True),
                                            F("Options", STRINGS, True)])), True),
    F("Secrets", Slice(Ptr(SecretReference)), True), F("Configs", Slice(Ptr(ConfigReference)), True),
    F("Isolation", STRING, True), F("Sysctls", LABELS, True), F("CapabilityAdd", STRINGS, True),
    F("CapabilityDrop", STRINGS, True),
    F("Ulimits", Slice(Ptr(Struct("Ulimit", [F("Name", STRING), F("Hard", INT64), F("Soft", INT64)]))), True),
])
NetworkAttachmentConfig = Struct("NetworkAttachmentConfig", [F("Target", STRING, True), F("Aliases", STRINGS, True),
                                                             F("DriverOpts", LABELS, True)])
RestartPolicy = Struct("RestartPolicy", [F("Condition", STRING, True), F("Delay", Ptr(DURATION), True),
                                         F("MaxAttempts", Ptr(UINT64), True), F("Window", Ptr(DURATION), True)])
Placement = Struct("Placement", [
    F("Constraints", STRINGS, True),
    F("Preferences", Slice(Struct("PlacementPreference", [
        F("Spread", Ptr(Struct("SpreadOver", [F("SpreadDescriptor", STRING)])))])), True),
    F("MaxReplicas", UINT64, True), F("Platforms", Slice(Platform), True),
])
TaskSpec = Struct("TaskSpec", [
    F("ContainerSpec", Ptr(ContainerSpec), True), F("PluginSpec", Ptr(ANY), True),
    F("NetworkAttachmentSpec", Ptr(Struct("NetworkAttachmentSpec", [F("ContainerID", STRING)])), True),
    F("Resources", Ptr(Struct("ResourceRequirements", [
        F("Limits", Ptr(Struct("Limit", [F("NanoCPUs", INT64, True), F("MemoryBytes", INT64, True),
                                         F("Pids", INT64, True)])), True),
        F("Reservations", Ptr(Resources), True)])), True),
    F("RestartPolicy", Ptr(RestartPolicy), True), F("Placement", Ptr(Placement), True),
    F("Networks", Slice(NetworkAttachmentConfig), True), F("LogDriver", Ptr(Driver), True),
    F("ForceUpdate", UINT64), F("Runtime", STRING, True),
])
UpdateConfig = Struct("UpdateConfig", [F("Parallelism", UINT64), F("Delay", DURATION, True),
                                       F("FailureAction", STRING, True), F("Monitor", DURATION, True),
                                       F("MaxFailureRatio", FLOAT32), F("Order", STRING)])
PortConfig = Struct("PortConfig", [F("Name", STRING, True), F("Protocol", STRING, True),
                                   F("TargetPort", UINT32, True), F("PublishedPort", UINT32, True),
                                   F("PublishMode", STRING, True)])
EndpointSpec = Struct("EndpointSpec", [F("Mode", STRING, True), F("Ports", Slice(PortConfig), True)])
ServiceMode = Struct("ServiceMode", [
    F("Replicated", Ptr(Struct("ReplicatedService", [F("Replicas", Ptr(UINT64), True)])), True),
    F("Global", Ptr(Struct("GlobalService", [])), True),
    F("ReplicatedJob", Ptr(Struct("ReplicatedJob", [F("MaxConcurrent", Ptr(UINT64), True),
                                                    F("TotalCompletions", Ptr(UINT64), True)])), True),
    F("GlobalJob", Ptr(Struct("GlobalJob", [])), True),
])
ServiceSpec = Struct("ServiceSpec", [
    F("Annotations", Annotations, embedded=True), F("TaskTemplate", TaskSpec, True), F("Mode", ServiceMode, True),
    F("UpdateConfig", Ptr(UpdateConfig), True), F("RollbackConfig", Ptr(UpdateConfig), True),
    F("Networks", Slice(NetworkAttachmentConfig), True), F("EndpointSpec", Ptr(EndpointSpec), True),
])
Service = Struct("Service", [
    F("ID", STRING), F("Meta", Meta, embedded=True), F("Spec", ServiceSpec, True),
    F("PreviousSpec", Ptr(ServiceSpec), True),
    F("Endpoint", Struct("Endpoint", [
        F("Spec", EndpointSpec, True), F("Ports", Slice(PortConfig), True),
        F("VirtualIPs", Slice(Struct("EndpointVirtualIP", [F("NetworkID", STRING, True), F("Addr", STRING, True)])),
          True)]), True),
    F("UpdateStatus", Ptr(Struct("UpdateStatus", [F("State", STRING, True), F("StartedAt", Ptr(TIME), True),
                                                  F("CompletedAt", Ptr(TIME), True), F("Message", STRING, True)])),
      True),
    F("ServiceStatus", Ptr(Struct("ServiceStatus", [F("RunningTasks", UINT64), F("DesiredTasks", UINT64),
                                                    F("CompletedTasks", UINT64)])), True),
    F("JobStatus", Ptr(Struct("JobStatus", [F("JobIteration", Version), F("LastExecution", TIME, True)])), True),
])
Task = Struct("Task", [
    F("ID", STRING), F("Meta", Meta, embedded=True), F("Annotations", Annotations, embedded=True),
    F("Spec", TaskSpec, True), F("ServiceID", STRING, True), F("Slot", INT, True), F("NodeID", STRING, True),
    F("Status", Struct("TaskStatus", [
        F("Timestamp", TIME, True), F("State", STRING, True), F("Message", STRING, True), F("Err", STRING, True),
        F("ContainerStatus", Ptr(Struct("ContainerStatus", [F("ContainerID", STRING), F("PID", INT),
                                                            F("ExitCode", INT)])), True),
        F("PortStatus", Struct("PortStatus", [F("Ports", Slice(PortConfig), True)]), True)]), True),
    F("DesiredState", STRING, True), F("NetworksAttachments", Slice(ANY), True),
    F("GenericResources", Slice(GenericResource), True), F("JobIteration", Ptr(Version), True),
])
