import {Settings, Typography} from "attio/client"

import {DEFAULT_BACKEND_URL} from "../../lib/protocol"
import schema from "./schema"

export default Settings.defineWorkspacePage(schema, () => {
    const {Form, TextInput} = Settings.useForm(schema)
    return (
        <Form>
            <Typography.Body>
                Leave blank to use the hosted attio-auth backend ({DEFAULT_BACKEND_URL}). If you run
                app-backend yourself, enter its URL.
            </Typography.Body>
            <TextInput name="backendUrl" label="Backend URL" type="url" placeholder={DEFAULT_BACKEND_URL} url />
        </Form>
    )
})
