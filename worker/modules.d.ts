// Module types for non-TS imports that wrangler bundles (its default rule: *.html as Text).
declare module '*.html' {
  const text: string
  export default text
}
