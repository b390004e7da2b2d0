import CorralControl
import CorralCore
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Named credentials (a backup target's credentialSecret). Values go in and are never shown.
extension ManagerAPI {
    func listSecrets(_ input: Operations.ListSecrets.Input) async throws -> Operations.ListSecrets.Output {
        .ok(.init(body: .json(.init(items: await store.list(Secret.self).map(SecretKind.redacted)))))
    }

    func getSecret(_ input: Operations.GetSecret.Input) async throws -> Operations.GetSecret.Output {
        .ok(.init(body: .json(SecretKind.redacted(try await named(Secret.self, input.path.name)))))
    }

    func setSecret(_ input: Operations.SetSecret.Input) async throws -> Operations.SetSecret.Output {
        let name = input.path.name
        if let problem = NameRule.problem(name) { throw APIError(.unprocessableContent, "secret name: \(problem)") }
        let data = switch input.body { case .json(let body): body.data.additionalProperties }
        if let problem = SecretKind.problem(data: data) { throw APIError(.unprocessableContent, problem) }
        guard await store.get(Secret.self, name) != nil else {
            let created = try await store.create(Secret(metadata: ObjectMeta(name: name), spec: .init(data: data), status: .init()), now: now)
            return .created(.init(body: .json(SecretKind.redacted(created))))
        }
        return .ok(.init(body: .json(SecretKind.redacted(try await store.modify(Secret.self, name) { $0.spec.data = data }))))
    }

    func deleteSecret(_ input: Operations.DeleteSecret.Input) async throws -> Operations.DeleteSecret.Output {
        let secret = try await named(Secret.self, input.path.name)
        if let user = await store.list(BackupTarget.self).first(where: { $0.spec.credentialSecret == secret.name }) {
            throw APIError(.conflict, "backup target \(user.name) uses secret \(secret.name); `corral backup-target set \(user.name) URL --credential-secret \"\"` first")
        }
        try await store.remove(.secrets, secret.name)
        return .ok(.init(body: .json(.init(ok: true))))
    }
}
