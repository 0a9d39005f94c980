import {Forms, Typography, useForm} from "attio/client"

import {currentActorEmail} from "../../../client/actor"
import {showOutcomeToast} from "../../../client/toast"
import createUser from "../../../server/create-user.server"

export default function CreateUserDialog(props: {
    recordId: string
    name: string | null
    options: Array<{value: string; label: string}>
    hideDialog: () => void
}) {
    const {Form, Combobox, SubmitButton} = useForm({email: Forms.string()}, {email: props.options[0]?.value ?? ""})
    return (
        <Form
            onSubmit={async ({email}) => {
                const outcome = await createUser({recordId: props.recordId, actorEmail: await currentActorEmail(), email, name: props.name})
                await showOutcomeToast("create-user", outcome)
                if (outcome.ok) props.hideDialog()
            }}
        >
            <Typography.Body>
                Creates a user in the auth server{props.name ? ` for ${props.name}` : ""}. They sign in with the email you pick.
            </Typography.Body>
            <Combobox label="Email" name="email" options={props.options} />
            <SubmitButton label="Create user" />
        </Form>
    )
}
