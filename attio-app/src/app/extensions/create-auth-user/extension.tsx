import {Extensions, showDialog, showToast} from "attio/client"

import {personEmailsAndName} from "../../../client/records"
import {emailOptions} from "../../../lib/format"
import CreateUserDialog from "./create-user-dialog"

export default Extensions.defineExtension({
    type: "record-action",
    id: "create-auth-user",
    label: "Create auth user",
    icon: "UserPlus",
    objects: "people",
    onTrigger: async ({recordId}) => {
        const person = await personEmailsAndName(recordId)
        const options = emailOptions(person.emails)
        if (options.length === 0) {
            await showToast({variant: "error", title: "Could not create the user", text: "This person has no email address. Add one first."})
            return
        }
        await showDialog({
            title: "Create auth user",
            Dialog: ({hideDialog}) => (
                <CreateUserDialog recordId={recordId} name={person.name} options={options} hideDialog={hideDialog} />
            ),
        })
    },
})
