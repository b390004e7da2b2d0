import CorralControl
import CorralHTTPAPI
import CorralManagerAPI
import Foundation

/// Settings: every known one with its value (stored or default), type and description.
extension ManagerAPI {
    func listSettings(_ input: Operations.ListSettings.Input) async throws -> Operations.ListSettings.Output {
        .ok(.init(body: .json(.init(items: await settingsView()))))
    }

    func getSetting(_ input: Operations.GetSetting.Input) async throws -> Operations.GetSetting.Output {
        let name = input.path.name
        guard let setting = await settingsView().first(where: { $0.name == name }) else {
            throw APIError(.notFound, "setting \(name) does not exist; `corral setting ls` lists them")
        }
        return .ok(.init(body: .json(setting)))
    }

    func setSetting(_ input: Operations.SetSetting.Input) async throws -> Operations.SetSetting.Output {
        let name = input.path.name
        guard let definition = SettingDefinition.named(name) else {
            throw APIError(.notFound, "setting \(name) does not exist; `corral setting ls` lists them")
        }
        let value = switch input.body { case .json(let body): body.value }
        if let problem = definition.problem(with: value) { throw APIError(.unprocessableContent, problem) }
        if await store.get(Setting.self, name) != nil {
            try await store.modify(Setting.self, name) { $0.spec.value = value }
        } else {
            try await store.create(Setting(metadata: ObjectMeta(name: name), spec: .init(value: value), status: .init()), now: now)
        }
        return .ok(.init(body: .json(await settingsView().first { $0.name == name }!)))
    }

    func settingsView() async -> [Components.Schemas.Setting] {
        let values = Settings(await store.list(Setting.self)).values
        return SettingDefinition.all.map {
            Components.Schemas.Setting(_type: $0.type.rawValue, defaultValue: $0.defaultValue, description: $0.description,
                                       name: $0.name, value: values[$0.name] ?? $0.defaultValue)
        }
    }
}
