import CorralControl
import CorralCore
import Foundation

/// Constants below are immutable dictionaries built once; `nonisolated(unsafe)` because `Any` is not Sendable.
/// The OpenAPI 3.0 description of the manager's API, served at /v1/openapi.json. Request bodies
/// are closed (additionalProperties: false) as the server enforces; responses are described by
/// the fields clients rely on.
enum OpenAPIDocument {
    static let json: String = {
        let data = try! JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }()

    typealias JSON = [String: Any]

    /// The methods the document lists for a concrete path, e.g. ["GET", "PUT"] for /v1/volumes/v1:
    /// a request with another method on a known path is a 405, not a 404.
    static func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        for (template, item) in paths {
            let parts = template.split(separator: "/", omittingEmptySubsequences: true)
            guard parts.count == segments.count,
                  zip(parts, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) else { continue }
            return ((item as? JSON) ?? [:]).keys.filter { $0 != "parameters" }.map { $0.uppercased() }.sorted()
        }
        return []
    }

    static func ref(_ name: String) -> JSON { ["$ref": "#/components/schemas/\(name)"] }
    static func list(_ name: String) -> JSON {
        ["type": "object", "required": ["items"], "properties": ["items": ["type": "array", "items": ref(name)]]]
    }
    static func closed(_ properties: JSON, required: [String] = []) -> JSON {
        var schema: JSON = ["type": "object", "additionalProperties": false, "properties": properties]
        if !required.isEmpty { schema["required"] = required }
        return schema
    }

    nonisolated(unsafe) static let nameSchema: JSON = ["type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$"]
    nonisolated(unsafe) static let sizeSchema: JSON = ["oneOf": [
        ["type": "integer", "minimum": 4096, "maximum": 70_368_744_177_664, "multipleOf": 4096],
        ["type": "string", "pattern": "^[1-9][0-9]{0,5}(Mi|Gi|Ti)$"],
    ]]
    nonisolated(unsafe) static let stringMap: JSON = ["type": "object", "additionalProperties": ["type": "string"]]
    nonisolated(unsafe) static let stringList: JSON = ["type": "array", "items": ["type": "string"]]
    nonisolated(unsafe) static let time: JSON = ["type": "string", "format": "date-time"]

    /// An operation: its summary, body, answer and the error statuses it may give.
    static func operation(_ id: String, _ summary: String, body: JSON? = nil, answer: JSON = ref("Done"),
                          success: String = "200", errors: [String] = ["400", "404", "409", "413", "422"],
                          query: [JSON] = [], bodyRequired: Bool = true, createsWith201: Bool = false) -> JSON {
        var responses: JSON = [success: ["description": "done", "content": ["application/json": ["schema": answer]]]]
        // A PUT that creates what it names answers 201 then, 200 when it replaced.
        if createsWith201 { responses["201"] = ["description": "created", "content": ["application/json": ["schema": answer]]] }
        // Every request may meet RequestGuard: 403 for a foreign Host or origin, 415 for a body
        // that is not JSON.
        for code in errors + ["403"] + (body == nil ? [] : ["415"]) {
            responses[code] = ["description": "refused; the body says why", "content": ["application/json": ["schema": ref("Error")]]]
        }
        var operation: JSON = ["operationId": id, "summary": summary, "responses": responses]
        if let body {
            operation["requestBody"] = ["required": bodyRequired, "content": ["application/json": ["schema": body]]]
        }
        if !query.isEmpty { operation["parameters"] = query }
        return operation
    }

    static func queryInteger(_ name: String, _ description: String, maximum: Int = Int(Int32.max)) -> JSON {
        ["name": name, "in": "query", "required": false, "description": description,
         "schema": ["type": "integer", "minimum": 0, "maximum": maximum]]
    }

    /// A path with a {name} parameter.
    static func named(_ operations: JSON) -> JSON {
        var item = operations
        item["parameters"] = [["name": "name", "in": "path", "required": true, "schema": ["type": "string"]]]
        return item
    }

    static func action(_ id: String, _ summary: String, body: JSON = ref("Empty"), answer: JSON = ref("Volume")) -> JSON {
        // Actions whose fields are all optional may be posted without a body.
        let optional = ["Empty", "Attach", "SnapshotCreate", "SnapshotBackup", "Salvage"].contains { (body["$ref"] as? String)?.hasSuffix("/" + $0) == true }
        return named(["post": operation(id, summary, body: body, answer: answer, errors: ["400", "404", "409", "413", "422", "502"], bodyRequired: !optional)])
    }

    nonisolated(unsafe) static let paths: JSON = [
        "/v1/volumes": [
            "get": operation("listVolumes", "List volumes", answer: list("Volume"), errors: []),
            "post": operation("createVolume", "Create a volume", body: ref("VolumeCreate"), answer: ref("Volume"), success: "201"),
        ],
        "/v1/volumes/{name}": named([
            "get": operation("getVolume", "Show a volume", answer: ref("Volume"), errors: ["404"]),
            "put": operation("updateVolume", "Replace a volume's spec at the resourceVersion read", body: ref("VolumeUpdate"), answer: ref("Volume")),
            "delete": operation("deleteVolume", "Delete a volume and its replicas", answer: ref("Volume"), success: "202", errors: ["404", "409"]),
        ]),
        "/v1/volumes/{name}/attach": action("attachVolume", "Attach to a node", body: ref("Attach")),
        "/v1/volumes/{name}/detach": action("detachVolume", "Detach"),
        "/v1/volumes/{name}/expand": action("expandVolume", "Grow the volume", body: ref("Expand")),
        "/v1/volumes/{name}/salvage": action("salvageVolume", "Start a faulted volume again from the replicas that are back, even if one that may hold newer writes is missing", body: ref("Salvage")),
        "/v1/volumes/{name}/updateReplicaCount": action("updateReplicaCount", "Change the replica count", body: ref("ReplicaCount")),
        "/v1/volumes/{name}/snapshotCreate": action("snapshotCreate", "Take a snapshot", body: ref("SnapshotCreate"), answer: ref("Done")),
        "/v1/volumes/{name}/snapshotList": action("snapshotList", "List snapshots", answer: ["type": "array", "items": ref("Snapshot")]),
        "/v1/volumes/{name}/snapshotDelete": action("snapshotDelete", "Mark a snapshot removed", body: ref("SnapshotName"), answer: ref("Done")),
        "/v1/volumes/{name}/snapshotRevert": action("snapshotRevert", "Revert to a snapshot", body: ref("SnapshotName"), answer: ref("Done")),
        "/v1/volumes/{name}/snapshotPurge": named([
            "post": operation("snapshotPurge", "Start freeing the space of removed snapshots; GET follows it", body: ref("Empty"),
                              answer: ref("PurgeState"), errors: ["400", "404", "409", "413", "422", "502"], bodyRequired: false),
            "get": operation("getSnapshotPurge", "The running or the last purge of the volume", answer: ref("PurgeState"),
                             errors: ["404", "409", "502"]),
        ]),
        "/v1/volumes/{name}/snapshots": named([
            "get": operation("listSnapshots", "List snapshots", answer: ["type": "array", "items": ref("Snapshot")], errors: ["404", "409", "502"]),
        ]),
        "/v1/volumes/{name}/snapshotBackup": action("snapshotBackup", "Back up a snapshot (a new one by default) to the backup target",
                                                    body: ref("SnapshotBackup"), answer: ref("Backup")),
        "/v1/backups": ["get": operation("listBackups", "List backups (?volume= for one volume)", answer: list("Backup"), errors: [],
                                         query: [["name": "volume", "in": "query", "required": false, "schema": ["type": "string"]]])],
        "/v1/backups/{name}": named([
            "get": operation("getBackup", "Show a backup", answer: ref("Backup"), errors: ["404"]),
            "delete": operation("deleteBackup", "Delete a backup: from the target, then its record (the backup shows Deleting meanwhile)",
                                answer: ref("Backup"), success: "202", errors: ["404"]),
        ]),
        "/v1/backups/{name}/cancel": action("cancelBackup", "Stop a Pending or InProgress backup (it ends in Error, cancelled)", answer: ref("Backup")),
        "/v1/secrets": ["get": operation("listSecrets", "List secrets (keys only; values are never shown)", answer: list("Secret"), errors: [])],
        "/v1/secrets/{name}": named([
            "get": operation("getSecret", "Show a secret's keys", answer: ref("Secret"), errors: ["404"]),
            "put": operation("setSecret", "Create or replace a secret", body: ref("SecretSet"), answer: ref("Secret"), createsWith201: true),
            "delete": operation("deleteSecret", "Remove a secret no backup target names", errors: ["404", "409"]),
        ]),
        "/v1/backups/{name}/status": named(["put": operation("putBackupStatus", "A node agent reports a backup", body: ref("BackupStatus"), answer: ref("Backup"))]),
        "/v1/backuptargets": ["get": operation("listBackupTargets", "List backup targets", answer: list("BackupTarget"), errors: [])],
        "/v1/backuptargets/{name}": named([
            "get": operation("getBackupTarget", "Show a backup target", answer: ref("BackupTarget"), errors: ["404"]),
            "put": operation("setBackupTarget", "Set (or create) a backup target", body: ref("BackupTargetSet"), answer: ref("BackupTarget"), createsWith201: true),
            "delete": operation("deleteBackupTarget", "Remove a backup target (not default) and its records; the store stays", errors: ["404", "409"]),
        ]),
        "/v1/backuptargets/{name}/sync": action("syncBackupTarget", "List the target now", answer: ref("BackupTarget")),
        "/v1/backupvolumes": ["get": operation("listBackupVolumes", "List backup volumes found on the targets", answer: list("BackupVolume"), errors: [])],
        "/v1/backupvolumes/{name}": named([
            "get": operation("getBackupVolume", "Show a backup volume", answer: ref("BackupVolume"), errors: ["404"]),
            "delete": operation("deleteBackupVolume", "Delete a backup volume from its target: every backup and block", errors: ["404", "409", "502"]),
        ]),
        "/v1/volumes/{name}/activate": action("activateVolume", "Turn a standby volume into a normal one after a last incremental restore"),
        "/v1/nodes": ["get": operation("listNodes", "List nodes", answer: list("Node"), errors: [])],
        "/v1/nodes/{name}": named([
            "get": operation("getNode", "Show a node", answer: ref("Node"), errors: ["404"]),
            "put": operation("updateNode", "Replace a node's spec at the resourceVersion read", body: ref("NodeUpdate"), answer: ref("Node")),
            "delete": operation("deleteNode", "Remove a node that is down and holds no replicas", errors: ["404", "409"]),
        ]),
        "/v1/nodes/{name}/heartbeat": named([
            "post": operation("nodeHeartbeat", "A node agent's heartbeat; the first registers the node", body: ref("Heartbeat"), answer: ref("Node")),
        ]),
        "/v1/nodes/{name}/assignments": named([
            "get": operation("nodeAssignments", "What a node should run, after a store revision (long poll)", answer: ref("Assignments"),
                             errors: ["400", "404"], query: [queryInteger("after", "answer once the store passes this revision"),
                                                            queryInteger("wait", "seconds to wait for a change (at most 30)", maximum: 30)]),
        ]),
        "/v1/replicas": ["get": operation("listReplicas", "List replicas", answer: list("Replica"), errors: [])],
        "/v1/engines": ["get": operation("listEngines", "List engines", answer: list("Engine"), errors: [])],
        "/v1/replicas/{name}/status": named(["put": operation("putReplicaStatus", "A node agent reports a replica", body: ref("ReplicaStatus"), answer: ref("Replica"))]),
        "/v1/engines/{name}/status": named(["put": operation("putEngineStatus", "A node agent reports an engine", body: ref("EngineStatus"), answer: ref("Engine"))]),
        "/v1/replicas/{name}/finalize": named(["post": operation("finalizeReplica", "A node agent removed a deleted replica's data", errors: ["404", "409"])]),
        "/v1/engines/{name}/finalize": named(["post": operation("finalizeEngine", "A node agent stopped a deleted engine", errors: ["404", "409"])]),
        "/v1/settings": ["get": operation("listSettings", "List settings", answer: list("Setting"), errors: [])],
        "/v1/settings/{name}": named([
            "get": operation("getSetting", "Show a setting", answer: ref("Setting"), errors: ["404"]),
            "put": operation("setSetting", "Change a setting", body: ref("SettingValue"), answer: ref("Setting")),
        ]),
        "/v1/events": ["get": operation("listEvents", "Recent events, newest first", answer: list("Event"), errors: [])],
        "/v1/events/stream": ["get": [
            "operationId": "streamChanges",
            "summary": "Every change of the store as server-sent events (`event: change`, id = revision; `event: resync` when changes after Last-Event-ID are no longer kept)",
            "parameters": [
                ["name": "Last-Event-ID", "in": "header", "required": false, "schema": ["type": "integer", "minimum": 0],
                 "description": "resume after this revision (the last id seen)"],
                queryInteger("after", "resume after this revision, as Last-Event-ID"),
            ],
            "responses": [
                "200": ["description": "the stream", "content": ["text/event-stream": ["schema": ["type": "string"]]]],
                "400": ["description": "refused; the body says why", "content": ["application/json": ["schema": ref("Error")]]],
                "403": ["description": "refused; the body says why", "content": ["application/json": ["schema": ref("Error")]]],
            ],
        ] as JSON],
        "/v1/watch": ["get": operation("watch", "Wait for the store to pass a revision (long poll)", answer: ref("Watch"), errors: ["400"],
                                       query: [queryInteger("after", "answer once the store passes this revision"),
                                               queryInteger("wait", "seconds to wait (at most 30)", maximum: 30)])],
    ]

    static func resource(spec: JSON, status: JSON = ["type": "object"]) -> JSON {
        ["type": "object", "required": ["metadata", "spec", "status"],
         "properties": ["metadata": ref("ObjectMeta"), "spec": spec, "status": status]]
    }

    nonisolated(unsafe) static let volumeSpec: JSON = [
        "type": "object", "additionalProperties": false,
        "required": ["size", "numberOfReplicas", "nodeID", "staleReplicaTimeout", "nodeSelector", "diskSelector"],
        "properties": ["size": ["type": "integer", "minimum": 4096, "maximum": 70_368_744_177_664, "multipleOf": 4096],
                       "numberOfReplicas": ["type": "integer", "minimum": 1, "maximum": 20],
                       "nodeID": ["type": "string", "pattern": "^([a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?)?$"],
                       "staleReplicaTimeout": ["type": "integer", "minimum": 1, "maximum": APILimits.staleReplicaTimeoutMinutesMax],
                       "nodeSelector": stringList, "diskSelector": stringList, "fromBackup": ["type": "string"], "standby": ["type": "boolean"],
                       "backupBlockSize": ["type": "integer", "enum": Limits.backupBlockSizes],
                       "salvageRequest": closed(["requestedAt": time, "replicas": stringList], required: ["requestedAt", "replicas"])],
    ]

    nonisolated(unsafe) static let diskSpec: JSON = closed(["path": ["type": "string", "minLength": 1], "allowScheduling": ["type": "boolean"],
                                        "evictionRequested": ["type": "boolean"], "storageReserved": counter,
                                        "tags": stringList],
                                       required: ["path", "allowScheduling", "evictionRequested", "storageReserved", "tags"])

    nonisolated(unsafe) static let nodeSpec: JSON = closed(["allowScheduling": ["type": "boolean"], "evictionRequested": ["type": "boolean"],
                                        "tags": stringList, "zone": ["type": "string"],
                                        "disks": ["type": "object", "additionalProperties": diskSpec]],
                                       required: ["allowScheduling", "evictionRequested", "tags", "zone", "disks"])

    nonisolated(unsafe) static let update: (JSON) -> JSON = { spec in
        closed(["metadata": closed(["resourceVersion": ["type": "integer", "minimum": 0], "labels": stringMap], required: ["resourceVersion"]),
                "spec": spec], required: ["metadata", "spec"])
    }

    nonisolated(unsafe) static let schemas: JSON = [
        "Error": ["type": "object", "required": ["error"], "properties": ["error": ["type": "string"]]],
        "Done": ["type": "object", "properties": ["ok": ["type": "boolean"]]],
        "PurgeState": ["type": "object", "required": ["running", "percent"],
                       "properties": ["running": ["type": "boolean"], "percent": ["type": "integer", "minimum": 0, "maximum": 100],
                                      "purged": ["type": "array", "items": ["type": "string"]], "error": ["type": "string"]]],
        "Empty": closed([:]),
        "Watch": ["type": "object", "required": ["revision"], "properties": ["revision": ["type": "integer"]]],
        "ObjectMeta": ["type": "object", "required": ["name", "generation", "resourceVersion"],
                       "properties": ["name": ["type": "string"], "generation": ["type": "integer"], "resourceVersion": ["type": "integer"],
                                      "createdAt": time, "deletionRequestedAt": time, "labels": stringMap, "owner": ["type": "string"]]],
        "Volume": resource(spec: volumeSpec, status: [
            "type": "object", "required": ["state", "robustness"],
            "properties": ["state": ["type": "string", "enum": ["creating", "attached", "detached", "attaching", "detaching", "deleting", "standby"]],
                           "robustness": ["type": "string", "enum": ["unknown", "healthy", "degraded", "faulted"]],
                           "endpoint": ["type": "string"], "currentNodeID": ["type": "string"],
                           "rebuildProgress": ["type": "object", "additionalProperties": ["type": "integer"]],
                           "purgeProgress": ["type": "integer", "minimum": 0, "maximum": 100],
                           "actualSize": ["type": "integer", "minimum": 0],
                           "salvage": ["type": "object", "required": ["startedAt", "replicas", "force"],
                                       "properties": ["startedAt": time, "replicas": stringList, "force": ["type": "boolean"]]],
                           "lastSalvageRequest": time,
                           "conditions": ["type": "array", "items": ["type": "object"]]]]),
        "Replica": resource(spec: ["type": "object"]),
        "Engine": resource(spec: ["type": "object"]),
        "Node": resource(spec: nodeSpec),
        "Event": resource(spec: ["type": "object", "required": ["type", "reason", "message", "involvedObject", "time"]]),
        "Setting": ["type": "object", "required": ["name", "value", "defaultValue", "type", "description"],
                    "properties": ["name": ["type": "string"], "value": ["type": "string"], "defaultValue": ["type": "string"],
                                   "type": ["type": "string"], "description": ["type": "string"]]],
        "Snapshot": ["type": "object", "required": ["name", "created", "userCreated", "removed", "size"],
                     "properties": ["name": ["type": "string"], "parent": ["type": "string"], "created": ["type": "string"],
                                    "userCreated": ["type": "boolean"], "removed": ["type": "boolean"], "size": ["type": "integer"],
                                    "children": stringList, "labels": stringMap]],
        "Assignments": ["type": "object", "required": ["revision", "replicas", "engines"],
                        "properties": ["revision": ["type": "integer"], "node": ref("Node"),
                                       "replicas": ["type": "array", "items": ref("Replica")], "engines": ["type": "array", "items": ref("Engine")]]],
        "VolumeCreate": closed(["name": nameSchema, "size": sizeSchema, "fromBackup": ["type": "string", "minLength": 1], "standby": ["type": "boolean"],
                                "backupBlockSize": sizeSchema,
                                "numberOfReplicas": ["type": "integer", "minimum": 1, "maximum": 20],
                                "nodeSelector": stringList, "diskSelector": stringList,
                                "staleReplicaTimeout": ["type": "integer", "minimum": 1, "maximum": APILimits.staleReplicaTimeoutMinutesMax], "labels": stringMap],
                               required: ["name"]),
        "VolumeUpdate": update(volumeSpec),
        "NodeUpdate": update(nodeSpec),
        "Attach": closed(["nodeID": nameSchema]),
        "Expand": closed(["size": sizeSchema], required: ["size"]),
        "Salvage": closed(["replicas": ["type": "array", "items": nameSchema]]),
        "ReplicaCount": closed(["replicaCount": ["type": "integer", "minimum": 1, "maximum": 20]], required: ["replicaCount"]),
        "SnapshotCreate": closed(["name": nameSchema, "labels": stringMap]),
        // An existing snapshot: names from before the name rule applied to snapshots are wider.
        "SnapshotName": closed(["name": ["type": "string", "minLength": 1, "maxLength": Limits.nameBytesMax]], required: ["name"]),
        "Backup": resource(spec: ["type": "object", "required": ["volumeName", "snapshotName", "backupTargetURL"]], status: [
            "type": "object", "required": ["state", "progress"],
            "properties": ["state": ["type": "string", "enum": ["Pending", "InProgress", "Completed", "Error", "Deleting"]],
                           "progress": ["type": "integer", "minimum": 0, "maximum": 100], "url": ["type": "string"],
                           "bytesDone": counter, "bytesTotal": counter, "newlyUploadedDataSize": counter]]),
        "SnapshotBackup": closed(["snapshot": nameSchema, "labels": stringMap, "backupTarget": nameSchema]),
        "BackupTarget": resource(spec: ["type": "object", "required": ["url", "pollInterval"]], status: [
            "type": "object", "required": ["available", "message"],
            "properties": ["available": ["type": "boolean"], "message": ["type": "string"], "lastSyncedAt": time]]),
        "Secret": resource(spec: ["type": "object", "required": ["data"], "properties": ["data": stringMap]]),
        "SecretSet": closed(["data": stringMap], required: ["data"]),
        "BackupTargetSet": closed(["url": ["type": "string", "pattern": "^(|file:///.*|s3://.*)$"], "credentialSecret": ["type": "string"],
                                   "pollInterval": ["type": "integer", "minimum": BackupTargetKind.pollIntervalRange.lowerBound,
                                                    "maximum": BackupTargetKind.pollIntervalRange.upperBound]], required: ["url"]),
        "BackupVolume": resource(spec: ["type": "object", "required": ["backupTargetName", "volumeName"]], status: [
            "type": "object", "required": ["size", "lastBackupName", "backupCount"],
            "properties": ["size": ["type": "integer"], "lastBackupName": ["type": "string"], "lastBackupAt": ["type": "string"],
                           "backupCount": ["type": "integer"]]]),
        "BackupStatus": closed(["state": ["type": "string", "enum": ["Pending", "InProgress", "Completed", "Error", "Deleting"]],
                                "progress": ["type": "integer", "minimum": 0, "maximum": 100],
                                "nodeID": ["type": "string"], "replicaName": ["type": "string"], "dataDirectoryName": ["type": "string"],
                                "url": ["type": "string"], "error": ["type": "string"], "message": ["type": "string"],
                                "size": counter, "newlyUploadedDataSize": counter],
                               required: ["state", "progress", "nodeID", "replicaName", "dataDirectoryName", "url", "error", "message",
                                          "size", "newlyUploadedDataSize"]),
        "SettingValue": closed(["value": ["type": "string"]], required: ["value"]),
        "Heartbeat": closed(["address": ["type": "string", "minLength": 1], "replicaPort": port, "nbdPort": port, "controlPort": port,
                             "disks": ["type": "object", "additionalProperties": closed(
                                ["path": ["type": "string", "minLength": 1], "storageMaximum": counter, "storageAvailable": counter], required: ["path", "storageMaximum", "storageAvailable"])]],
                            required: ["address", "replicaPort", "nbdPort", "controlPort", "disks"]),
        "ReplicaStatus": closed(["currentState": instanceState, "address": ["type": "string"], "message": ["type": "string"],
                                 "actualSize": counter],
                                required: ["currentState", "address", "message"]),
        "EngineStatus": closed(["currentState": instanceState, "endpoint": ["type": "string"],
                                "currentSize": counter,
                                "replicaModeMap": ["type": "object", "additionalProperties": ["type": "string", "enum": ["RW", "WO", "ERR"]]],
                                "rebuildProgress": ["type": "object", "additionalProperties": ["type": "integer", "minimum": 0, "maximum": 100]],
                                "readBytes": counter, "writeBytes": counter, "readOps": counter, "writeOps": counter,
                                "message": ["type": "string"], "restoredBackup": ["type": "string"],
                                "restoreProgress": ["type": "integer", "minimum": 0, "maximum": 100], "restoreError": ["type": "string"],
                                "purgeProgress": ["type": "integer", "minimum": 0, "maximum": 100], "startEpoch": counter,
                                "startReplicas": stringList],
                               required: ["currentState", "endpoint", "currentSize", "replicaModeMap", "rebuildProgress",
                                          "readBytes", "writeBytes", "readOps", "writeOps", "message"]),
    ]

    nonisolated(unsafe) static let port: JSON = ["type": "integer", "minimum": 1, "maximum": 65535]
    nonisolated(unsafe) static let counter: JSON = ["type": "integer", "minimum": 0, "maximum": Int64.max]
    nonisolated(unsafe) static let instanceState: JSON = ["type": "string", "enum": ["pending", "starting", "running", "stopped", "error"]]

    nonisolated(unsafe) static let document: JSON = [
        "openapi": "3.0.3",
        "info": ["title": "Corral manager API", "version": "1",
                 "description": "Volumes, nodes, settings and events of a Corral cluster. Errors answer {\"error\": \"...\"}."],
        "paths": paths,
        "components": ["schemas": schemas],
    ]
}
