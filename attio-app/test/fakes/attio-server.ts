/**
 * Test stand-in for the `attio/server` module, which ships types only (Attio provides the
 * runtime). test/resolve-attio.mjs maps the import here; tests set `fake` directly.
 */
import type {WorkspaceConnection} from "attio/server"

export const fake: {
    connection: WorkspaceConnection | null
    settings: Record<string, string | null>
    currentUser: {id: string} | null
} = {connection: null, settings: {backendUrl: null}, currentUser: null}

export function getWorkspaceConnection(): WorkspaceConnection {
    if (fake.connection === null) throw new Error("No workspace connection (fake attio/server)")
    return fake.connection
}

export function getCurrentUser(): {id: string} | null {
    return fake.currentUser
}

export const Settings = {
    async getSettings(_schema: unknown, key?: string): Promise<unknown> {
        return key === undefined ? {...fake.settings} : (fake.settings[key] ?? null)
    },
}
