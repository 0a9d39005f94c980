import {Extensions, showDialog} from "attio/client"

import BanDialog from "./ban-dialog"

export default Extensions.defineExtension({
    type: "record-action",
    id: "ban-user",
    label: "Ban or unban user",
    icon: "Locked",
    objects: "users",
    onTrigger: async ({recordId}) => {
        await showDialog({
            title: "Ban or unban user",
            Dialog: ({hideDialog}) => <BanDialog recordId={recordId} hideDialog={hideDialog} />,
        })
    },
})
