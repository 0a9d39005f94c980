import {Extensions, showDialog} from "attio/client"

import SessionsDialog from "./sessions-dialog"

export default Extensions.defineExtension({
    type: "record-action",
    id: "user-sessions",
    label: "View sessions",
    icon: "Desktop",
    objects: "users",
    onTrigger: async ({recordId}) => {
        await showDialog({title: "Sessions", Dialog: () => <SessionsDialog recordId={recordId} />})
    },
})
