import type {ActionOutcome} from "../lib/protocol"
import {runAction} from "./run-action"

/** Creates the auth organization ("workspace") for a `companies` record. */
export default async function createOrganization(input: {
    recordId: string
    actorEmail: string | null
    name: string | null
}): Promise<ActionOutcome> {
    const name = (input.name ?? "").trim()
    if (name === "") {
        return {ok: false, code: "NO_NAME", message: "This company has no name in Attio. Give it a name, then try again."}
    }
    return runAction(
        {
            action: "create-organization",
            target: {object: "companies", recordId: input.recordId},
            params: {name},
        },
        input.actorEmail
    )
}
