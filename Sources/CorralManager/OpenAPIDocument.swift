/// The OpenAPI 3 description of the manager's API, served at /v1/openapi.json.
enum OpenAPIDocument {
    static let json = "{}"
}
