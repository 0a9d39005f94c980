/**
 * Runs before Attio saves the workspace connection: throwing refuses it, and Attio shows the
 * error's message to the person who pasted the string. So check the string here, first
 * locally (a legacy or damaged string never leaves Attio), then with app-backend, which
 * registers this workspace and pings the auth server.
 */
import type {Connection} from "attio/server"

import {ConnectionStringError, decodeConnectionString, signingKey} from "../../lib/connection"
import {runAction} from "../../server/run-action"

export default async function connectionAdded({connection}: {connection: Connection}): Promise<void> {
    try {
        signingKey(decodeConnectionString(connection.value).secret)
    } catch (error) {
        if (error instanceof ConnectionStringError) throw new Error(error.message)
        throw error
    }
    // The backend learns the secret only here, when the string is pasted: it needs it to
    // verify every later call. The request is signed with that same secret.
    const outcome = await runAction(
        {action: "connection-check", params: {connectionString: connection.value}},
        null,
        connection
    )
    if (!outcome.ok) {
        throw new Error(`This connection string did not work: ${outcome.message}`)
    }
}
