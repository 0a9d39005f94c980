/**
 * Runs before Attio deletes the workspace connection. It tells app-backend to forget this
 * workspace (`uninstall`). It never throws: throwing would keep the connection, and a person
 * must always be able to disconnect, even when the backend is down.
 */
import type {Connection} from "attio/server"

import {runAction} from "../../server/run-action"

export default async function connectionRemoved({connection}: {connection: Connection}): Promise<void> {
    try {
        const outcome = await runAction({action: "uninstall"}, null, connection)
        if (!outcome.ok) console.error(`[attio-auth] uninstall failed: ${outcome.code}`)
    } catch (error) {
        console.error(`[attio-auth] uninstall failed: ${error instanceof Error ? error.name : "unknown error"}`)
    }
}
