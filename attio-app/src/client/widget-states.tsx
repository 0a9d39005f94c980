/**
 * The states every record widget shares besides its data: not connected yet (no workspace
 * connection: where to connect) and failed (the backend's own sentence).
 */
import {Badge, Widget} from "attio/client"

export function WidgetFailure({title, outcome}: {title: string; outcome: {code: string; message: string}}) {
    const disconnected = outcome.code === "NOT_CONNECTED"
    return (
        <Widget.TextWidget>
            <Widget.Title>{title}</Widget.Title>
            <Widget.Decoration>
                <Badge color={disconnected ? "grey" : "red"}>{disconnected ? "Not connected" : "Error"}</Badge>
            </Widget.Decoration>
            <Widget.Text.Primary>{disconnected ? "Not connected" : "Could not load"}</Widget.Text.Primary>
            <Widget.Text.Secondary>{outcome.message}</Widget.Text.Secondary>
        </Widget.TextWidget>
    )
}
