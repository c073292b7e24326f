// Stylesheets imported by the page are bundled by esbuild into app.css.
declare module '*.css';
