/**
 * Runs before Attio saves the workspace connection: throwing refuses it, and Attio shows the
 * error's message to the person who pasted the string. So check the string here, first
 * locally (a damaged string is refused before any call; a legacy one from the original
 * generator is accepted, signed with its derived key), then with app-backend,
 * which checks that the string is the one installed for this workspace and pings the auth
 * server.
 */
import type {Connection} from "attio/server"

import {ConnectionStringError, decodeConnectionString, signingKeyFor} from "../../lib/connection"
import {runAction} from "../../server/run-action"

export default async function connectionAdded({connection}: {connection: Connection}): Promise<void> {
    try {
        await signingKeyFor(decodeConnectionString(connection.value).secret)
    } catch (error) {
        if (error instanceof ConnectionStringError) throw new Error(error.message)
        throw error
    }
    // The backend already holds this workspace's connection string (from its install
    // step), so only the signature travels: a string that differs from the installed one
    // fails verification there, and the backend also pings the auth server.
    const outcome = await runAction({action: "connection-check"}, null, connection)
    if (!outcome.ok) {
        throw new Error(`This connection string did not work: ${outcome.message}`)
    }
}
