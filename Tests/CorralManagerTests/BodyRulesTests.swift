import CorralHTTPAPI
import Foundation
import Testing

/// The rules every request body follows, read from the operation's schema: what the generated
/// decoders would let through.
struct BodyRulesTests {
    static let document = APIDocument(yaml: """
        openapi: 3.0.3
        info: {title: t, version: "1"}
        paths:
          /things:
            post:
              operationId: makeThing
              requestBody:
                content:
                  application/json:
                    schema: {$ref: '#/components/schemas/Thing'}
              responses: {'200': {description: done}}
        components:
          schemas:
            Thing:
              type: object
              additionalProperties: false
              properties:
                count: {type: integer}
                size:
                  oneOf:
                    - {type: integer}
                    - {type: string}
                labels: {type: object, additionalProperties: {type: string}}
                parts:
                  type: array
                  items:
                    type: object
                    additionalProperties: false
                    properties: {weight: {type: integer}}
        """)

    func problem(_ body: String) -> String? {
        BodyRules.problem(in: Data(body.utf8), operationID: "makeThing", document: Self.document)
    }

    @Test func wellFormedBodiesPass() {
        #expect(problem(#"{"count": 2, "size": "1Gi", "labels": {"a": "b"}, "parts": [{"weight": 3}]}"#) == nil)
        #expect(problem(#"{"size": 4096}"#) == nil)
        #expect(problem("{}") == nil)
    }

    @Test func eachRuleNamesTheField() {
        #expect(problem(#"{"count": 2.0}"#) == "field \"count\" must be a whole number")
        #expect(problem(#"{"count": 2e0}"#) == "field \"count\" must be a whole number")
        #expect(problem(#"{"size": 2.5}"#) == "field \"size\" must be a whole number", "neither alternative takes a fraction")
        #expect(problem(#"{"size": 2.0}"#) == "field \"size\" must be a whole number", "nor 2.0")
        #expect(problem(#"{"size": true}"#) == "field \"size\" has the wrong type: expected integer, found boolean")
        #expect(problem(#"{"count": "2"}"#) == "field \"count\" has the wrong type: expected integer, found string")
        #expect(problem(#"{"labels": {"a": 1}}"#) == "field \"labels.a\" has the wrong type: expected string, found integer")
        #expect(problem(#"{"parts": [{"weight": 1}, {"weight": 1.5}]}"#) == "field \"parts.1.weight\" must be a whole number")
        #expect(problem(#"{"count": null}"#) == "field \"count\" is null; leave it out instead")
        #expect(problem(#"{"labels": {"a": null}}"#) == "field \"labels.a\" is null; leave it out instead")
        #expect(problem(#"{"colour": "red"}"#)?.hasPrefix("unknown field \"colour\"") == true)
        #expect(problem(#"{"parts": [{"weight": 1, "x": 0}]}"#)?.hasPrefix("unknown field \"parts.0.x\"") == true)
        #expect(problem("[1]") == "the body must be a JSON object")
        #expect(problem("{")?.hasPrefix("the body is not JSON") == true)
    }

    @Test func aServedDocumentAnswers405sFromItsPaths() {
        #expect(Self.document.methods(forPath: "/things") == ["POST"])
        #expect(Self.document.methods(forPath: "/nothing") == [])
    }
}
