// A compile error, as a code generator leaves one: an unclosed element.
export default function Broken() {
  return <div className="broken">
}
