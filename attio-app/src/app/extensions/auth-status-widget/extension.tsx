import {Extensions, Widget} from "attio/client"
import {Suspense} from "react"

import AuthStatus from "./auth-status"

export default Extensions.defineExtension({
    type: "record-widget",
    id: "auth-status-widget",
    label: "Auth status",
    objects: "users",
    Widget: ({recordId}) => (
        <Suspense fallback={<Widget.Loading />}>
            <AuthStatus recordId={recordId} />
        </Suspense>
    ),
})
