import {Extensions} from "attio/client"

import {showSessionsDialog} from "./sessions-dialog"

export default Extensions.defineExtension({
    type: "record-action",
    id: "user-sessions",
    label: "View sessions",
    icon: "Desktop",
    objects: "users",
    onTrigger: async ({recordId}) => {
        await showSessionsDialog(recordId)
    },
})
