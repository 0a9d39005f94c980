import {Settings} from "attio"

/**
 * The app's one setting: where app-backend runs. Blank means the hosted backend
 * (DEFAULT_BACKEND_URL in src/lib/protocol.ts); a self-hosted backend puts its URL here.
 */
export default Settings.defineWorkspaceSchema({
    backendUrl: Settings.Schema.string(),
})
