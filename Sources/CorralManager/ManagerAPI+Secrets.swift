import CorralControl
import CorralCore
import CorralHTTPAPI
import Foundation
import Hummingbird

/// Named credentials (a backup target's credentialSecret). Values go in and are never shown.
extension ManagerAPI {
    struct SecretBody: Codable { var data: [String: String] }

    func addSecretRoutes(_ router: Router<APIContext>) {
        router.get("/v1/secrets") { _, _ in
            try json(APIResponse.List(items: await store.list(Secret.self).map(SecretKind.redacted)))
        }
        router.get("/v1/secrets/:name") { _, context in try json(SecretKind.redacted(try await named(Secret.self, context))) }
        router.put("/v1/secrets/:name") { request, context in
            var request = request
            let name = try context.parameters.require("name")
            if let problem = NameRule.problem(name) { throw APIError(.unprocessableContent, "secret name: \(problem)") }
            let body = try await request.decodeStrict(SecretBody.self, context: context)
            if let problem = SecretKind.problem(data: body.data) { throw APIError(.unprocessableContent, problem) }
            guard await store.get(Secret.self, name) != nil else {
                let created = try await store.create(Secret(metadata: ObjectMeta(name: name), spec: .init(data: body.data), status: .init()), now: now)
                return try json(SecretKind.redacted(created), status: .created)
            }
            return try json(SecretKind.redacted(try await store.modify(Secret.self, name) { $0.spec.data = body.data }))
        }
        router.delete("/v1/secrets/:name") { _, context in
            let secret = try await named(Secret.self, context)
            if let user = await store.list(BackupTarget.self).first(where: { $0.spec.credentialSecret == secret.name }) {
                throw APIError(.conflict, "backup target \(user.name) uses secret \(secret.name); `corral backup-target set \(user.name) URL --credential-secret \"\"` first")
            }
            try await store.remove(.secrets, secret.name)
            return try json(APIResponse.Done())
        }
    }
}
